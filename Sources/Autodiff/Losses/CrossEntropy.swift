import Foundation
import _Differentiation

/// The mean softmax cross-entropy of logits [batch, classes] against class indices [batch], as a tensor of shape [1].
@differentiable(reverse,wrt: logits)
public func softmaxCrossEntropy(_ logits: DTensor, labels: [Int]) -> DTensor {
    crossEntropyAndGradient(logits, labels, ignoreIndex: nil).loss
}

/// The derivative of `softmaxCrossEntropy`: its value and pullback, registered for `_Differentiation`.
@derivative(of: softmaxCrossEntropy, wrt: logits)
public func vjpSoftmaxCrossEntropy(_ logits: DTensor, labels: [Int]) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let (loss, gradient) = crossEntropyAndGradient(logits, labels, ignoreIndex: nil)
    return (loss, { g in logits.deliver(DTensor(shape: logits.shape, values: gradient.map { $0 * (g.values.first ?? 0) })) })
}

/// The mean softmax cross-entropy of logits [..., classes] (classes last, e.g. [batch, time, classes]) against
/// one target class per position (row-major over the leading dimensions), positions whose target is
/// `ignoreIndex` left out of the mean (PyTorch's `cross_entropy(ignore_index=-100)`; NaN when every one is).
@differentiable(reverse,wrt: logits)
public func crossEntropy(_ logits: DTensor, targets: [Int], ignoreIndex: Int = -100) -> DTensor {
    crossEntropyAndGradient(logits, targets, ignoreIndex: ignoreIndex).loss
}

/// The derivative of `crossEntropy`: its value and pullback, registered for `_Differentiation`.
@derivative(of: crossEntropy, wrt: logits)
public func vjpCrossEntropy(_ logits: DTensor, targets: [Int], ignoreIndex: Int) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let (loss, gradient) = crossEntropyAndGradient(logits, targets, ignoreIndex: ignoreIndex)
    return (loss, { g in logits.deliver(DTensor(shape: logits.shape, values: gradient.map { $0 * (g.values.first ?? 0) })) })
}

/// The loss and its gradient with respect to the logits, in one pass.
func crossEntropyAndGradient(_ logits: DTensor, _ targets: [Int], ignoreIndex: Int?) -> (loss: DTensor, gradient: [Float]) {
    ensure(logits.rank >= 1, "crossEntropy: logits need a class dimension")
    let classes = logits.shape.last!
    let rows = classes == 0 ? 0 : logits.count / classes
    ensure(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) positions of logits \(logits.shape)")
    for target in targets where target != ignoreIndex {
        ensure(target >= 0 && target < classes, "crossEntropy: target \(target) outside the classes 0..<\(classes)")
    }
    let counted = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    var total = 0.0
    var gradient = [Float](repeating: 0, count: logits.count)
    let weight = 1 / Float(counted)
    logits.withPointer { z in
        for row in 0..<rows where targets[row] != ignoreIndex {
            let base = row * classes
            var top = -Float.infinity
            for c in 0..<classes { top = Swift.max(top, z[base + c]) }
            var sum: Float = 0
            for c in 0..<classes {
                gradient[base + c] = Foundation.exp(z[base + c] - top)
                sum += gradient[base + c]
            }
            let scale = weight / sum
            for c in 0..<classes { gradient[base + c] *= scale }
            gradient[base + targets[row]] -= weight
            total += Double(Foundation.log(sum) - (z[base + targets[row]] - top))
        }
    }
    return (DTensor(shape: [1], values: [Float(total / Double(counted))]), gradient)
}
