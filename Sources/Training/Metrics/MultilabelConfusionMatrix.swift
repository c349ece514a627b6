import Cluster
import EngineCore

/// One 2 x 2 confusion matrix per label of multilabel predictions (Ignite's `MultiLabelConfusionMatrix`): for each
/// label `[[true negatives, false positives], [false negatives, true positives]]`; its value is the mean over labels
/// of the fraction of samples the label got right.
public final class MultilabelConfusionMatrix: Metric {
    /// [TN, FP, FN, TP] for each label, one label after another.
    public var sums: [Double]
    public var communicator: (any Communicator)?
    /// Labels per sample.
    public let labels: Int

    /// Matrices for `labels` labels.
    /// - Throws: `ArgumentError` for no label.
    public init(labels: Int, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(labels >= 1, "MultilabelConfusionMatrix(labels:)", labels, "at least 1")
        self.labels = labels
        self.communicator = communicator
        sums = Array(repeating: 0, count: 4 * labels)
    }

    /// Adds a batch of `count x labels` scores (thresholded as the batch says) and 0/1 targets.
    /// - Throws: `MetricError` for another label count, too few values or a target other than 0 or 1.
    public func update(_ batch: MultilabelBatch) throws {
        guard batch.labels == labels, batch.count >= 0, batch.scores.count >= batch.count * labels,
            batch.targets.count >= batch.count * labels
        else {
            throw MetricError("MultiLabelConfusionMatrix: a batch of \(batch.count) rows of \(batch.labels) labels for a metric of \(labels) labels")
        }
        for index in 0..<(batch.count * labels) {
            let target = batch.targets[index]
            guard target == 0 || target == 1 else { throw MetricError("MultiLabelConfusionMatrix: target \(target) is not 0 or 1") }
            sums[4 * (index % labels) + 2 * Int(target) + (batch.predicted(index) ? 1 : 0)] += 1
        }
    }

    /// The matrices over every rank, one `[[TN, FP], [FN, TP]]` per label (scikit-learn's layout). A collective.
    /// - Throws: `MetricError` when no sample was seen on any rank.
    public func computeMatrices() throws -> [[[Double]]] {
        let global = try reducedSums()
        guard global.contains(where: { $0 > 0 }) else {
            throw MetricError("Confusion matrix must have at least one example before it can be computed")
        }
        return (0..<labels).map { label -> [[Double]] in
            let counts = Array(global[(4 * label)..<(4 * label + 4)])
            return [[counts[0], counts[1]], [counts[2], counts[3]]]
        }
    }

    public func value(from sums: [Double]) throws -> Double {
        let samples = sums[0..<4].reduce(0, +)
        guard samples > 0 else { throw MetricError("Confusion matrix must have at least one example before it can be computed") }
        return (0..<labels).reduce(0.0) { $0 + (sums[4 * $1] + sums[4 * $1 + 3]) / samples } / Double(labels)
    }
}
