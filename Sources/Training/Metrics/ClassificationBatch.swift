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

    /// Why the batch cannot be read (arrays smaller than it, predictions of another shape); metrics throw it.
    public let problem: String?

    /// A batch of `count` rows of `classes` scores and their labels (checked by the metrics that read it).
    public init(scores: [Float], labels: [Int32], count: Int, classes: Int, valid: Int? = nil) {
        problem =
            count >= 0 && classes >= 1 && scores.count >= count * classes && labels.count >= count
            ? nil
            : "\(scores.count) scores and \(labels.count) labels cannot hold \(count) rows of \(classes) classes"
        self.scores = scores
        self.labels = labels
        self.count = count
        self.classes = classes
        self.valid = Swift.min(valid ?? count, count)
    }

    /// A batch from a classifier's predictions `[count, classes]` and class-index targets `[count]`.
    public init(predictions: Tensor, targets: Tensor) {
        guard predictions.shape.count == 2 && targets.count == predictions.rows else {
            self.init(scores: [], labels: [], count: 0, classes: 1)
            self.problemOverride = "predictions must be [count, classes] and targets [count], got \(predictions.shape) and \(targets.shape)"
            return
        }
        self.init(
            scores: predictions.values, labels: targets.values.map { Int32(exactly: $0.rounded(.towardZero)) ?? -1 },
            count: predictions.rows, classes: predictions.shape[1])
    }

    private var problemOverride: String?

    /// Throws the batch's problem, a class count other than `classes`, or (when `labelsInRange`) a label outside
    /// the classes, naming `metric`.
    public func validate(metric: String, classes expected: Int?, labelsInRange: Bool) throws {
        if let problem = problemOverride ?? problem { throw MetricError("\(metric): \(problem)") }
        if let expected, expected != classes {
            throw MetricError("\(metric): the batch has scores for \(classes) classes, the metric counts \(expected)")
        }
        if labelsInRange, let bad = labels.prefix(valid).first(where: { $0 < 0 || Int($0) >= classes }) {
            throw MetricError("\(metric): label \(bad) is outside the classes 0..<\(classes)")
        }
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
