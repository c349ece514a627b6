import Cluster
import EngineCore

/// A curve over thresholds of a binary score: `x` and `y` at each threshold (Ignite's `RocCurve` and
/// `PrecisionRecallCurve`, which compute scikit-learn's `roc_curve` and `precision_recall_curve`).
public struct ScoreCurve: Equatable, Sendable {
    /// False positive rates (ROC) or recalls (precision-recall).
    public var x: [Double]
    /// True positive rates (ROC) or precisions (precision-recall).
    public var y: [Double]
    /// The score thresholds: descending from +∞ for ROC, ascending for precision-recall (one fewer than points).
    public var thresholds: [Double]
}

/// The exact ROC or precision-recall curve of every rank's scores (gathered in rank order, not binned), as
/// scikit-learn computes it; attached as a metric its value is the curve's area (ROC AUC or average precision).
public final class CurveMetric: Metric {
    /// Which curve.
    public enum Kind: Sendable { case roc, precisionRecall }
    /// Which curve.
    public let kind: Kind
    private let store: RankingScore

    public var sums: [Double] {
        get { store.sums }
        set { store.sums = newValue }
    }
    public var communicator: (any Communicator)? {
        get { store.communicator }
        set { store.communicator = newValue }
    }

    /// A curve of `kind`, over `communicator`'s ranks when given.
    public init(_ kind: Kind, communicator: (any Communicator)? = nil) {
        self.kind = kind
        store = RankingScore(kind == .roc ? .rocAUC : .averagePrecision, communicator: communicator)
    }

    public func reset() { store.reset() }
    public func update(_ batch: MultilabelBatch) throws { try store.update(batch) }
    public func stateDict() -> StateDict { store.stateDict() }
    public func loadStateDict(_ state: StateDict) throws { try store.loadStateDict(state) }
    public func compute() throws -> Double { try store.compute() }
    public func value(from sums: [Double]) throws -> Double { try store.value(from: sums) }

    /// The curve over every rank's scores. A collective when `communicator` is set.
    /// - Throws: `MetricError` when a class is missing (no positive target; for ROC also no negative).
    public func computeCurve() throws -> ScoreCurve {
        let (scores, labels) = try store.gathered()
        return try Self.curve(kind, scores: scores, labels: labels)
    }

    /// scikit-learn's curve for `scores` and 0/1 `labels`.
    static func curve(_ kind: Kind, scores: [Double], labels: [Double]) throws -> ScoreCurve {
        let counts = try ThresholdCounts(
            scores: scores, labels: labels, metric: kind == .roc ? "RocCurve" : "PrecisionRecallCurve",
            needsNegatives: kind == .roc)
        let (truePositives, falsePositives, thresholds) = (counts.truePositives, counts.falsePositives, counts.thresholds)
        let (positives, negatives) = (counts.positives, counts.negatives)
        switch kind {
        case .roc:
            // Only the corners (drop_intermediate), then the origin at threshold +∞.
            var keep: [Int] = []
            for i in thresholds.indices {
                if i == 0 || i == thresholds.count - 1 {
                    keep.append(i)
                    continue
                }
                let fpBend = falsePositives[i - 1] - 2 * falsePositives[i] + falsePositives[i + 1]
                let tpBend = truePositives[i - 1] - 2 * truePositives[i] + truePositives[i + 1]
                if fpBend != 0 || tpBend != 0 { keep.append(i) }
            }
            return ScoreCurve(
                x: [0] + keep.map { falsePositives[$0] / negatives }, y: [0] + keep.map { truePositives[$0] / positives },
                thresholds: [.infinity] + keep.map { thresholds[$0] })
        case .precisionRecall:
            // Every threshold in ascending order, then the point (recall 0, precision 1).
            let points = Array(thresholds.indices.reversed())
            return ScoreCurve(
                x: points.map { truePositives[$0] / positives } + [0],
                y: points.map { truePositives[$0] / (truePositives[$0] + falsePositives[$0]) } + [1],
                thresholds: points.map { thresholds[$0] })
        }
    }
}
