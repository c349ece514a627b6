import Foundation

/// Softmax cross-entropy of logits against integer class labels, averaged over the batch.
///
/// Numerically stable (the row maximum is subtracted before exponentiation).
public struct SoftmaxCrossEntropy: Sendable {
    /// A loss.
    public init() {}

    /// The mean loss; writes d(mean loss)/d(logits) into `gradient` when given.
    public func callAsFunction(logits: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int32>, batchSize: Int,
                               classes: Int, gradient: UnsafeMutableBufferPointer<Float>?) -> Float {
        precondition(logits.count >= batchSize * classes && labels.count >= batchSize, "buffers too small")
        var total: Double = 0
        let scale = 1 / Float(batchSize)
        for row in 0..<batchSize {
            let z = logits.baseAddress! + row * classes
            let label = Int(labels[row])
            precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
            var top = z[0]
            for c in 1..<max(classes, 1) { top = max(top, z[c]) }
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
        return Float(total / Double(batchSize))
    }
}

/// Mean squared error against float targets, averaged over every value.
public struct MeanSquaredError: Sendable {
    /// A loss.
    public init() {}

    /// The mean of (prediction - target)²; writes its gradient into `gradient` when given.
    public func callAsFunction(predictions: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>,
                               gradient: UnsafeMutableBufferPointer<Float>?) -> Float {
        precondition(predictions.count == targets.count, "predictions and targets differ in size")
        var total: Double = 0
        let scale = 2 / Float(max(predictions.count, 1))
        for index in predictions.indices {
            let difference = predictions[index] - targets[index]
            total += Double(difference * difference)
            gradient?[index] = scale * difference
        }
        return Float(total / Double(max(predictions.count, 1)))
    }
}
