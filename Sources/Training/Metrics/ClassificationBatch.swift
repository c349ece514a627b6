/// Scores and labels of one batch of a classifier, for metrics: views, no copies.
public struct ClassificationBatch {
    /// Scores (logits or probabilities), `count x classes`, row-major.
    public let scores: UnsafeBufferPointer<Float>
    /// True classes.
    public let labels: UnsafeBufferPointer<Int32>
    /// Rows in the batch.
    public let count: Int
    /// Classes per row.
    public let classes: Int
    /// Rows that count (the first `valid`); padded rows after them are ignored.
    public let valid: Int

    /// A batch viewing existing buffers.
    public init(scores: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int32>, count: Int, classes: Int,
                valid: Int? = nil) {
        precondition(scores.count >= count * classes && labels.count >= count, "buffers smaller than the batch")
        self.scores = scores
        self.labels = labels
        self.count = count
        self.classes = classes
        self.valid = Swift.min(valid ?? count, count)
    }

    /// The predicted class of a row (the highest score; the first on ties).
    @inlinable
    public func predictedClass(_ row: Int) -> Int {
        let base = row * classes
        var best = 0
        for c in 1..<Swift.max(classes, 1) where scores[base + c] > scores[base + best] { best = c }
        return best
    }
}
