import Cluster
import EngineCore
import Foundation

/// Per-class precision, recall and F-beta with their macro averages (Ignite's `ClassificationReport`), from one
/// confusion matrix reduced over every rank. Attached as a metric its value is the macro F-beta; the whole table is
/// `computeReport()`, and its `json` is Ignite's.
public final class ClassificationReport: Metric {
    /// One row of the report.
    public struct Row: Equatable, Sendable {
        /// The class's precision.
        public var precision: Double
        /// The class's recall.
        public var recall: Double
        /// The class's F-beta score.
        public var fScore: Double
        /// True samples of the class (for the macro row, of all classes).
        public var support: Double
    }

    /// The report: a row per class (named by `labels`, else by index) and the macro averages.
    public struct Report: Equatable, Sendable {
        /// One row per class, in class order.
        public var classes: [(name: String, row: Row)]
        /// The rows' unweighted mean.
        public var macro: Row
        /// The β of the F-score.
        public var beta: Double

        /// Ignite's JSON: `{"0": {"precision": ..., "recall": ..., "f1-score": ...}, ..., "macro avg": {...}}`.
        public var json: String {
            let key = beta == beta.rounded() ? "f\(Int(beta))-score" : "f\(beta)-score"
            func object(_ row: Row) -> String {
                "{\"precision\": \(row.precision), \"recall\": \(row.recall), \"\(key)\": \(row.fScore)}"
            }
            func quoted(_ name: String) -> String {
                let data = (try? JSONEncoder().encode(name)) ?? Data("\"?\"".utf8)
                return String(decoding: data, as: UTF8.self)
            }
            let entries = classes.map { "\(quoted($0.name)): \(object($0.row))" } + ["\"macro avg\": \(object(macro))"]
            return "{" + entries.joined(separator: ", ") + "}"
        }

        /// Whether two reports hold the same classes, scores and beta.
        public static func == (a: Report, b: Report) -> Bool {
            a.beta == b.beta && a.macro == b.macro && a.classes.map(\.name) == b.classes.map(\.name) && a.classes.map(\.row) == b.classes.map(\.row)
        }
    }

    public var sums: [Double] {
        get { matrix.sums }
        set { matrix.sums = newValue }
    }
    public var communicator: (any Communicator)? {
        get { matrix.communicator }
        set { matrix.communicator = newValue }
    }
    /// The β of the F-score (1: F1).
    public let beta: Double
    /// Class names, one per class; nil names them by index.
    public let labels: [String]?
    private let matrix: ConfusionMatrix

    /// A report over `classes` classes.
    /// - Throws: `ArgumentError` for fewer than 2 classes, a β that is not positive, or labels of another count.
    public init(classes: Int, beta: Double = 1, labels: [String]? = nil, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(beta > 0 && beta.isFinite, "ClassificationReport(beta:)", beta, "a positive number")
        if let labels {
            try ArgumentError.require(labels.count == classes, "ClassificationReport(labels:)", labels.count, "one name per class (\(classes))")
        }
        self.beta = beta
        self.labels = labels
        matrix = try ConfusionMatrix(classes: classes, communicator: communicator)
    }

    public func update(_ batch: ClassificationBatch) throws { try matrix.update(batch) }

    /// The report over every rank's samples. A collective when `communicator` is set.
    /// - Throws: `MetricError` when no sample was seen on any rank.
    public func computeReport() throws -> Report { try report(from: try reducedSums()) }

    /// The macro F-beta.
    public func value(from sums: [Double]) throws -> Double { try report(from: sums).macro.fScore }

    func report(from sums: [Double]) throws -> Report {
        let n = matrix.classes
        guard sums.contains(where: { $0 > 0 }) else {
            throw MetricError("ClassificationReport must have at least one example before it can be computed")
        }
        let rows = ConfusionMatrix.classCounts(sums, classes: n).map { counts in
            Row(
                precision: counts.precision, recall: counts.recall,
                fScore: PrecisionRecall.fbeta(beta, precision: counts.precision, recall: counts.recall), support: counts.actual)
        }
        let count = Double(n)
        let macro = Row(
            precision: rows.reduce(0) { $0 + $1.precision } / count, recall: rows.reduce(0) { $0 + $1.recall } / count,
            fScore: rows.reduce(0) { $0 + $1.fScore } / count, support: rows.reduce(0) { $0 + $1.support })
        return Report(classes: rows.enumerated().map { (labels?[$0.offset] ?? String($0.offset), $0.element) }, macro: macro, beta: beta)
    }
}
