import Cluster
import EngineCore

/// How the per-label scores of a multilabel classifier are combined (Ignite's `average=` with `is_multilabel=True`).
public enum MultilabelAverage: Sendable, Equatable {
    /// The unweighted mean over labels.
    case macro
    /// From the totals over all labels.
    case micro
    /// The mean over labels weighted by each label's number of positive targets.
    case weighted
    /// The mean over samples of each sample's own score.
    case samples
}

/// Precision, recall or F-beta of multilabel (or binary) predictions, per label or averaged: Ignite's `Precision`,
/// `Recall` and `Fbeta` with `is_multilabel=True`. Counts are summed over every rank, uneven and empty ranks included.
public final class MultilabelPrecisionRecall: Metric {
    /// Which score.
    public let kind: PrecisionRecall.Kind
    /// How it is averaged.
    public let average: MultilabelAverage
    /// Labels per sample.
    public let labels: Int
    /// Per label: true positives, false positives, false negatives; then the per-sample precision, recall and score
    /// sums and the sample count.
    public var sums: [Double]
    public var communicator: (any Communicator)?

    /// A score over `labels` labels per sample.
    /// - Throws: `ArgumentError` for no label or a β that is not positive.
    public init(
        _ kind: PrecisionRecall.Kind, labels: Int, average: MultilabelAverage = .macro,
        communicator: (any Communicator)? = nil
    ) throws {
        try ArgumentError.require(labels >= 1, "MultilabelPrecisionRecall(labels:)", labels, "at least 1")
        if case .fbeta(let beta) = kind {
            try ArgumentError.require(beta > 0 && beta.isFinite, "MultilabelPrecisionRecall(.fbeta)", beta, "a positive number")
        }
        self.kind = kind
        self.average = average
        self.labels = labels
        sums = Array(repeating: 0, count: 3 * labels + 4)
        self.communicator = communicator
    }

    private var name: String {
        switch kind {
        case .precision: "Precision"
        case .recall: "Recall"
        case .f1, .fbeta: "Fbeta"
        }
    }

    private func score(precision: Double, recall: Double) -> Double { kind.score(precision: precision, recall: recall) }

    /// Adds a batch of `count x labels` scores and 0/1 targets.
    /// - Throws: `MetricError` for another label count, too few values or a target other than 0 or 1.
    public func update(_ batch: MultilabelBatch) throws {
        guard batch.labels == labels, batch.count >= 0, batch.scores.count >= batch.count * labels,
            batch.targets.count >= batch.count * labels
        else {
            throw MetricError(
                "\(name): a batch of \(batch.count) rows of \(batch.labels) labels (\(batch.scores.count) scores, "
                    + "\(batch.targets.count) targets) for a metric of \(labels) labels")
        }
        for row in 0..<batch.count {
            var tp = 0.0
            var fp = 0.0
            var fn = 0.0
            for label in 0..<labels {
                let index = row * labels + label
                let target = batch.targets[index]
                guard target == 0 || target == 1 else { throw MetricError("\(name): target \(target) is not 0 or 1") }
                switch (batch.predicted(index), target == 1) {
                case (true, true):
                    tp += 1
                    sums[label] += 1
                case (true, false):
                    fp += 1
                    sums[labels + label] += 1
                case (false, true):
                    fn += 1
                    sums[2 * labels + label] += 1
                case (false, false): break
                }
            }
            let precision = tp + fp > 0 ? tp / (tp + fp) : 0
            let recall = tp + fn > 0 ? tp / (tp + fn) : 0
            sums[3 * labels] += precision
            sums[3 * labels + 1] += recall
            sums[3 * labels + 2] += score(precision: precision, recall: recall)
            sums[3 * labels + 3] += 1
        }
    }

    /// Each label's score over every rank (0 for a label never predicted or never present). A collective.
    /// - Throws: `MetricError` when no sample was seen on any rank.
    public func computePerLabel() throws -> [Double] {
        let global = try reducedSums()
        guard global[3 * labels + 3] > 0 else { throw notComputable }
        return perLabel(global)
    }

    private var notComputable: MetricError { MetricError("\(name) must have at least one example before it can be computed") }

    private func perLabel(_ sums: [Double]) -> [Double] {
        (0..<labels).map { label in
            let tp = sums[label]
            let fp = sums[labels + label]
            let fn = sums[2 * labels + label]
            return score(precision: tp + fp > 0 ? tp / (tp + fp) : 0, recall: tp + fn > 0 ? tp / (tp + fn) : 0)
        }
    }

    public func value(from sums: [Double]) throws -> Double {
        let samples = sums[3 * labels + 3]
        guard samples > 0 else { throw notComputable }
        switch average {
        case .macro: return perLabel(sums).reduce(0, +) / Double(labels)
        case .weighted:
            let support = (0..<labels).map { sums[$0] + sums[2 * labels + $0] }
            let total = support.reduce(0, +)
            guard total > 0 else { return 0 }
            return zip(perLabel(sums), support).reduce(0) { $0 + $1.0 * $1.1 } / total
        case .micro:
            let tp = sums[0..<labels].reduce(0, +)
            let fp = sums[labels..<(2 * labels)].reduce(0, +)
            let fn = sums[(2 * labels)..<(3 * labels)].reduce(0, +)
            return score(precision: tp + fp > 0 ? tp / (tp + fp) : 0, recall: tp + fn > 0 ? tp / (tp + fn) : 0)
        case .samples:
            let offset =
                switch kind {
                case .precision: 0
                case .recall: 1
                case .f1, .fbeta: 2
                }
            return sums[3 * labels + offset] / samples
        }
    }
}
