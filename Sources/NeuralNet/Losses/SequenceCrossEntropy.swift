import Foundation

/// Softmax cross-entropy at every position of a sequence: logits `[batch, time, classes]` (or flattened to
/// `[batch, time·classes]`) against class indices `[batch, time]` (integers stored as Float), averaged over the
/// positions whose target is not `ignoreIndex` (PyTorch's `cross_entropy(ignore_index=-100)` on `[N·T, C]`).
public struct SequenceCrossEntropy: LossFunction, Sendable {
    /// The number of classes (the vocabulary of a language model).
    public let classes: Int
    /// A target that marks a position left out of the loss (padding).
    public let ignoreIndex: Int

    /// A loss over `classes` classes.
    public init(classes: Int, ignoreIndex: Int = -100) {
        precondition(classes > 0, "SequenceCrossEntropy needs at least one class")
        self.classes = classes
        self.ignoreIndex = ignoreIndex
    }

    /// The positions whose target is not `ignoreIndex`: what the loss averages over.
    public func averagedTerms(targets: Tensor) -> Int {
        targets.values.reduce(0) { $0 + (Int(exactly: $1) == ignoreIndex ? 0 : 1) }
    }

    public func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        guard predictions.count == targets.count * classes, predictions.rows == targets.rows else {
            throw LossError.shapeMismatch(loss: "SequenceCrossEntropy", predictions: predictions.shape, targets: targets.shape)
        }
        let labels = try targets.values.map { value -> Int in
            guard value.rounded() == value, Int(value) == ignoreIndex || (value >= 0 && value < Float(classes)) else {
                throw LossError.labelOutOfRange(label: value, classes: classes)
            }
            return Int(value)
        }
        let counted = labels.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        guard counted > 0 else { throw LossError.emptyBatch(loss: "SequenceCrossEntropy") }
        let weight = 1 / Float(counted)
        // Positions in blocks of about 16 Ki logits on the compute threads; the blocks' loss sums are added in block
        // order (blocks by shape alone: the same bits on any thread count).
        let positions = labels.count
        let block = Swift.max(1, (1 << 14) / classes)
        let blocks = (positions + block - 1) / block
        var totals = [Double](repeating: 0, count: blocks)
        let gradient = Tensor(shape: predictions.shape) { gradient in
            predictions.values.withUnsafeBufferPointer { logits in
                labels.withUnsafeBufferPointer { labels in
                    totals.withUnsafeMutableBufferPointer { totals in
                        let (logits, labels, totals, gradient) = (
                            logits.baseAddress!, labels.baseAddress!, totals.baseAddress!, gradient.baseAddress!
                        )
                        BLAS.forEachInParallel(blocks) { _, index in
                            var total = 0.0
                            for position in (index * block)..<Swift.min(positions, (index + 1) * block) {
                                let z = logits + position * classes
                                let g = gradient + position * classes
                                let label = labels[position]
                                guard label != ignoreIndex else {
                                    g.update(repeating: 0, count: classes)
                                    continue
                                }
                                total += Double(Kernels.crossEntropyRow(z, gradient: g, classes: classes, label: label, weight: weight))
                            }
                            totals[index] = total
                        }
                    }
                }
            }
        }
        let total = totals.reduce(0, +)
        return (Float(total / Double(counted)), gradient)
    }
}
