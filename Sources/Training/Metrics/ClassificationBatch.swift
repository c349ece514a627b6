import NeuralNet

/// Scores and labels of one batch of a classifier, for metrics.
public struct ClassificationBatch: Sendable {
    /// Scores (logits or probabilities), `count x classes`, row-major.
    public let scores: [Float]
    /// True classes.
    public let labels: [Int32]
    /// Rows in the batch.
    public let count: Int
    /// Classes per row.
    public let classes: Int
    /// Rows that count (the first `valid`); padded rows after them are ignored.
    public let valid: Int

    /// A batch of `count` rows of `classes` scores and their labels.
    public init(scores: [Float], labels: [Int32], count: Int, classes: Int, valid: Int? = nil) {
        precondition(scores.count >= count * classes && labels.count >= count, "arrays smaller than the batch")
        self.scores = scores
        self.labels = labels
        self.count = count
        self.classes = classes
        self.valid = Swift.min(valid ?? count, count)
    }

    /// A batch from a classifier's predictions `[count, classes]` and class-index targets `[count]`.
    public init(predictions: Tensor, targets: Tensor) {
        precondition(predictions.shape.count == 2 && targets.count == predictions.rows,
                     "predictions must be [count, classes] and targets [count], got \(predictions.shape) and \(targets.shape)")
        self.init(scores: predictions.values, labels: targets.values.map { Int32($0) }, count: predictions.rows,
                  classes: predictions.shape[1])
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
