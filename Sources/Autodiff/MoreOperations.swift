import Foundation
import _Differentiation
import NeuralNet

/// What a differentiable model's forward pass is told besides its input (training or not, the random key of
/// the step), set by `AutodiffModel` for the duration of each forward pass on the running thread.
public enum AutodiffContext {
    private static let key = "swift-train.autodiff.context"

    /// The context of the forward pass running on this thread (evaluation, key 0, when none is).
    public static var current: LayerContext {
        (Thread.current.threadDictionary[key] as? Box)?.context ?? LayerContext(training: false, randomKey: 0)
    }

    /// Draws counted within the current forward pass, so each dropout site gets its own masks.
    static func nextDraw() -> UInt64 {
        guard let box = Thread.current.threadDictionary[key] as? Box else { return 0 }
        box.draws += 1
        return box.draws
    }

    /// Runs `body` with `context` current on this thread.
    static func with<R>(_ context: LayerContext, _ body: () throws -> R) rethrows -> R {
        let previous = Thread.current.threadDictionary[key]
        Thread.current.threadDictionary[key] = Box(context)
        defer { Thread.current.threadDictionary[key] = previous }
        return try body()
    }

    final class Box {
        let context: LayerContext
        var draws: UInt64 = 0
        init(_ context: LayerContext) { self.context = context }
    }
}

/// Zeroes each value with probability `probability` while training (scaling the rest by 1/(1-p)); the identity
/// otherwise. Masks are a pure function of the step's random key and the dropout site, as the built-in layer's.
public func dropout(_ x: DTensor, probability: Float) -> DTensor {
    applyMask(x, dropoutMask(count: x.count, probability: probability))
}

@derivative(of: dropout, wrt: x)
public func vjpDropout(_ x: DTensor, probability: Float) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let mask = dropoutMask(count: x.count, probability: probability)
    return (applyMask(x, mask), { g in x.deliver(applyMask(g, mask)) })
}

func applyMask(_ x: DTensor, _ mask: [Float]?) -> DTensor {
    guard let mask else { return x.detached }
    return x.withValues { values in DTensor(shape: x.shape, values: (0..<values.count).map { values[$0] * mask[$0] }) }
}

func dropoutMask(count: Int, probability: Float) -> [Float]? {
    let context = AutodiffContext.current
    guard context.training, probability > 0 else { return nil }
    let random = CounterRandom(seed: context.randomKey, stream: AutodiffContext.nextDraw())
    let scale = 1 / (1 - probability)
    return (0..<count).map { Float(random.value(at: UInt64($0)) >> 40) * 0x1p-24 >= probability ? scale : 0 }
}

/// The mean softmax cross-entropy of logits [batch, classes] against class indices [batch], as a tensor of shape [1].
public func softmaxCrossEntropy(_ logits: DTensor, labels: [Int]) -> DTensor {
    crossEntropyAndGradient(logits, labels).loss
}

func crossEntropyAndGradient(_ logits: DTensor, _ labels: [Int]) -> (loss: DTensor, gradient: [Float]) {
    let rows = logits.shape[0], classes = logits.shape[1]
    precondition(labels.count == rows, "\(labels.count) labels for \(rows) rows")
    var total = 0.0
    var gradient = [Float](repeating: 0, count: rows * classes)
    logits.withValues { z in
        for row in 0..<rows {
            let base = row * classes
            let top = (0..<classes).map { z[base + $0] }.max() ?? 0
            var sum: Float = 0
            for c in 0..<classes { gradient[base + c] = exp(z[base + c] - top); sum += gradient[base + c] }
            for c in 0..<classes { gradient[base + c] /= sum * Float(rows) }
            gradient[base + labels[row]] -= 1 / Float(rows)
            total += Double(log(sum) - (z[base + labels[row]] - top))
        }
    }
    return (DTensor(shape: [1], values: [Float(total / Double(rows))]), gradient)
}

@derivative(of: softmaxCrossEntropy, wrt: logits)
public func vjpSoftmaxCrossEntropy(_ logits: DTensor, labels: [Int]) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let (loss, gradient) = crossEntropyAndGradient(logits, labels)
    return (loss, { g in logits.deliver(DTensor(shape: logits.shape, values: gradient.map { $0 * (g.values.first ?? 0) })) })
}

/// The mean squared difference of two tensors of the same size, as a tensor of shape [1].
@differentiable(reverse)
public func meanSquaredError(_ predictions: DTensor, _ targets: DTensor) -> DTensor {
    mean(multiply(predictions - targets, predictions - targets))
}

/// Normalises each row (the last dimension) to zero mean and unit variance, then scales by `gamma` and shifts
/// by `beta` (PyTorch's LayerNorm over the last dimension, ε = 1e-5).
@differentiable(reverse)
public func layerNorm(_ x: DTensor, gamma: DTensor, beta: DTensor) -> DTensor {
    layerNormForward(x, gamma, beta).output
}

func layerNormForward(_ x: DTensor, _ gamma: DTensor, _ beta: DTensor) -> (output: DTensor, normalized: [Float], inverseDeviation: [Float]) {
    let width = x.shape.last ?? 1, rows = x.count / Swift.max(width, 1)
    var normalized = [Float](repeating: 0, count: x.count), inverse = [Float](repeating: 0, count: rows)
    var output = [Float](repeating: 0, count: x.count)
    x.withValues { v in gamma.withValues { g in beta.withValues { b in
        for row in 0..<rows {
            let base = row * width
            var mean: Float = 0
            for c in 0..<width { mean += v[base + c] }
            mean /= Float(width)
            var variance: Float = 0
            for c in 0..<width { variance += (v[base + c] - mean) * (v[base + c] - mean) }
            inverse[row] = 1 / (variance / Float(width) + 1e-5).squareRoot()
            for c in 0..<width {
                normalized[base + c] = (v[base + c] - mean) * inverse[row]
                output[base + c] = normalized[base + c] * g[c] + b[c]
            }
        }
    } } }
    return (DTensor(shape: x.shape, values: output), normalized, inverse)
}

@derivative(of: layerNorm)
public func vjpLayerNorm(_ x: DTensor, gamma: DTensor, beta: DTensor)
    -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor, DTensor))
{
    let (output, normalized, inverse) = layerNormForward(x, gamma, beta)
    let width = x.shape.last ?? 1, rows = x.count / Swift.max(width, 1)
    return (output, { gradient in
        var dx = [Float](repeating: 0, count: x.count), dGamma = [Float](repeating: 0, count: width)
        var dBeta = [Float](repeating: 0, count: width)
        gradient.withValues { dy in gamma.withValues { g in
            for row in 0..<rows {
                let base = row * width
                var sumDy: Float = 0, sumDyX: Float = 0
                for c in 0..<width {
                    let dNormalized = dy[base + c] * g[c]
                    sumDy += dNormalized
                    sumDyX += dNormalized * normalized[base + c]
                    dGamma[c] += dy[base + c] * normalized[base + c]
                    dBeta[c] += dy[base + c]
                }
                for c in 0..<width {
                    let dNormalized = dy[base + c] * g[c]
                    dx[base + c] = inverse[row] / Float(width) * (Float(width) * dNormalized - sumDy - normalized[base + c] * sumDyX)
                }
            }
        } }
        return (x.deliver(DTensor(shape: x.shape, values: dx)), gamma.deliver(DTensor(shape: gamma.shape, values: dGamma)),
                beta.deliver(DTensor(shape: beta.shape, values: dBeta)))
    })
}

/// Rows of `table` [vocabulary, width] picked by `indices` (whole numbers stored as Float): [count, width].
public func embedding(_ indices: [Int], table: DTensor) -> DTensor {
    let width = table.shape[1]
    return table.withValues { t in
        DTensor(shape: [indices.count, width], values: indices.flatMap { index -> [Float] in
            precondition(index >= 0 && index < table.shape[0], "embedding index \(index) outside 0..<\(table.shape[0])")
            return Array(t[(index * width)..<((index + 1) * width)])
        })
    }
}

@derivative(of: embedding, wrt: table)
public func vjpEmbedding(_ indices: [Int], table: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (embedding(indices, table: table), { gradient in
        let width = table.shape[1]
        var dTable = [Float](repeating: 0, count: table.count)
        gradient.withValues { g in
            for (row, index) in indices.enumerated() { for c in 0..<width { dTable[index * width + c] += g[row * width + c] } }
        }
        return table.deliver(DTensor(shape: table.shape, values: dTable))
    })
}
