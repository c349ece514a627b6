import Foundation

/// Softmax cross-entropy of logits `[batch, classes]` against class indices `[batch]` (integers stored as
/// Float), averaged over the batch; numerically stable (the row maximum is subtracted before exponentiation).
public struct SoftmaxCrossEntropy: LossFunction, Sendable {
    /// A loss.
    public init() {}

    public func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        let classes = try check(predictions, targets)
        var total: Double = 0
        let gradient = try Tensor(shape: predictions.shape) { gradient in
            try predictions.values.withUnsafeBufferPointer { logits in
                total = try crossEntropy(logits, targets.values, rows: targets.count, classes: classes, gradient: gradient)
            }
        }
        return (Float(total / Double(targets.count)), gradient)
    }

    public func value(predictions: Tensor, targets: Tensor) throws -> Float {
        let classes = try check(predictions, targets)
        let total = try predictions.values.withUnsafeBufferPointer { logits in
            try crossEntropy(logits, targets.values, rows: targets.count, classes: classes, gradient: nil)
        }
        return Float(total / Double(targets.count))
    }

    private func check(_ predictions: Tensor, _ targets: Tensor) throws -> Int {
        guard predictions.shape.count == 2, targets.count == predictions.rows else {
            throw LossError.shapeMismatch(loss: "SoftmaxCrossEntropy", predictions: predictions.shape, targets: targets.shape)
        }
        guard targets.count > 0, predictions.shape[1] > 0 else { throw LossError.emptyBatch(loss: "SoftmaxCrossEntropy") }
        return predictions.shape[1]
    }

    /// The summed loss of `rows` rows; the mean's gradient goes into `gradient` when given.
    private func crossEntropy(
        _ logits: UnsafeBufferPointer<Float>, _ labels: [Float], rows: Int, classes: Int,
        gradient: UnsafeMutableBufferPointer<Float>?
    ) throws -> Double {
        var total: Double = 0
        let scale = 1 / Float(rows)
        for row in 0..<rows {
            let z = logits.baseAddress! + row * classes
            let labelValue = labels[row]
            guard labelValue >= 0, labelValue < Float(classes), labelValue.rounded() == labelValue else {
                throw LossError.labelOutOfRange(label: labelValue, classes: classes)
            }
            let label = Int(labelValue)
            var top = z[0]
            for c in 1..<classes { top = max(top, z[c]) }
            var sum: Float = 0
            if let gradient {
                let g = gradient.baseAddress! + row * classes
                for c in 0..<classes {
                    g[c] = exp(z[c] - top)
                    sum += g[c]
                }
                let factor = scale / sum
                for c in 0..<classes { g[c] *= factor }
                g[label] -= scale
            } else {
                for c in 0..<classes { sum += exp(z[c] - top) }
            }
            total += Double(log(sum) - (z[label] - top))
        }
        return total
    }
}
