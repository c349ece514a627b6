import Cluster
import EngineCore

/// Scores and 0/1 targets of binary or multilabel classification, for metrics.
public struct MultilabelBatch: Sendable {
    /// Probabilities (or logits when `logits`), `count x labels`, row-major.
    public let scores: [Float]
    /// Targets 0 or 1, `count x labels`.
    public let targets: [Int32]
    /// Rows and labels per row (1 for binary classification).
    public let count: Int, labels: Int
    /// Whether scores are logits (threshold 0) rather than probabilities (threshold 0.5).
    public let logits: Bool

    /// A batch of `count` rows of `labels` scores and targets.
    public init(
        scores: [Float], targets: [Int32], count: Int, labels: Int = 1,
        logits: Bool = false
    ) {
        self.scores = scores
        self.targets = targets
        self.count = count
        self.labels = labels
        self.logits = logits
    }

    /// Whether label `index` is predicted present.
    @inlinable
    public func predicted(_ index: Int) -> Bool { scores[index] >= (logits ? 0 : 0.5) }
}

/// Accuracy of binary (one label) or multilabel predictions: a sample counts as correct only when every
/// one of its labels is right (Ignite's multilabel accuracy).
public final class MultilabelAccuracy: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?

    /// An accuracy, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: MultilabelBatch) throws {
        guard batch.count >= 0, batch.labels >= 1, batch.scores.count >= batch.count * batch.labels,
            batch.targets.count >= batch.count * batch.labels
        else {
            throw MetricError(
                "MultilabelAccuracy: \(batch.scores.count) scores and \(batch.targets.count) targets cannot hold "
                    + "\(batch.count) rows of \(batch.labels) labels")
        }
        for row in 0..<batch.count {
            var correct = true
            for label in 0..<batch.labels where batch.predicted(row * batch.labels + label) != (batch.targets[row * batch.labels + label] == 1) {
                correct = false
            }
            if correct { sums[0] += 1 }
        }
        sums[1] += Double(batch.count)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "MultilabelAccuracy")
    }
}

/// The fraction of samples whose true class is among the `k` highest scores.
public final class TopKAccuracy: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// How many of the highest scores count.
    public let k: Int

    /// A top-k accuracy.
    /// - Throws: `ArgumentError` for a `k` below 1.
    public init(k: Int = 5, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(k > 0, "TopKAccuracy(k:)", k, "at least 1")
        self.k = k
        self.communicator = communicator
    }

    public func update(_ batch: ClassificationBatch) throws {
        try batch.validate(metric: "TopKAccuracy", classes: nil, labelsInRange: true)
        for row in 0..<batch.valid {
            let base = row * batch.classes
            let label = Int(batch.labels[row])
            let target = batch.scores[base + label]
            var higher = 0
            for c in 0..<batch.classes where batch.scores[base + c] > target || (batch.scores[base + c] == target && c < label) {
                higher += 1
            }
            if higher < k { sums[0] += 1 }
        }
        sums[1] += Double(batch.valid)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "TopKAccuracy")
    }
}

/// Counts of (true class, predicted class) pairs; its value is the overall accuracy.
public final class ConfusionMatrix: Metric {
    public var sums: [Double]
    public var communicator: (any Communicator)?
    /// Number of classes.
    public let classes: Int

    /// A matrix for `classes` classes.
    /// - Throws: `ArgumentError` for fewer than 2 classes.
    public init(classes: Int, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(classes >= 2, "ConfusionMatrix(classes:)", classes, "at least 2")
        self.classes = classes
        sums = Array(repeating: 0, count: classes * classes)
        self.communicator = communicator
    }

    /// Adds a batch; as in Ignite, a target outside `0..<classes` (negative, or an ignored index) is left out.
    /// - Throws: `MetricError` when the batch's scores hold another number of classes.
    public func update(_ batch: ClassificationBatch) throws {
        try batch.validate(metric: "ConfusionMatrix", classes: classes, labelsInRange: false)
        for row in 0..<batch.valid {
            let label = Int(batch.labels[row])
            guard label >= 0 && label < classes else { continue }
            sums[label * classes + batch.predictedClass(row)] += 1
        }
    }

    /// The matrix over every rank: rows are true classes, columns predicted classes. A collective.
    /// - Throws: `MetricError` when no example was counted on any rank (Ignite's NotComputableError).
    public func computeMatrix() throws -> [[Double]] {
        let global = try reducedSums()
        guard global.contains(where: { $0 > 0 }) else {
            throw MetricError("ConfusionMatrix must have at least one example before it can be computed")
        }
        return (0..<classes).map { Array(global[($0 * classes)..<(($0 + 1) * classes)]) }
    }

    public func value(from sums: [Double]) throws -> Double {
        let total = sums.reduce(0, +)
        guard total > 0 else { throw MetricError("ConfusionMatrix must have at least one example before it can be computed") }
        return (0..<classes).reduce(0) { $0 + sums[$1 * classes + $1] } / total
    }
}

/// How per-class precision, recall or F1 are combined into one value.
public enum ClassAverage: Sendable {
    /// The unweighted mean over classes.
    case macro
    /// From the totals over all classes (equals accuracy for single-label multiclass).
    case micro
    /// The mean weighted by each class's number of true samples.
    case weighted
}

/// Precision, recall or F1 of a multiclass classifier, per class or averaged, from a reduced confusion matrix.
public final class PrecisionRecall: Metric {
    /// Which score.
    public enum Kind: Sendable { case precision, recall, f1, fbeta(Double) }
    public var sums: [Double] {
        get { matrix.sums }
        set { matrix.sums = newValue }
    }
    public var communicator: (any Communicator)? {
        get { matrix.communicator }
        set { matrix.communicator = newValue }
    }
    /// The score and how it is averaged.
    public let kind: Kind, average: ClassAverage
    private let matrix: ConfusionMatrix

    /// A precision, recall or F1 over `classes` classes.
    /// - Throws: `ArgumentError` for fewer than 2 classes.
    public init(_ kind: Kind, classes: Int, average: ClassAverage = .macro, communicator: (any Communicator)? = nil) throws {
        if case .fbeta(let beta) = kind {
            try ArgumentError.require(beta > 0 && beta.isFinite, "PrecisionRecall(.fbeta)", beta, "a positive number")
        }
        self.kind = kind
        self.average = average
        matrix = try ConfusionMatrix(classes: classes, communicator: communicator)
    }

    public func update(_ batch: ClassificationBatch) throws { try matrix.update(batch) }

    /// `(1 + β²) P R / (β² P + R)`, 0 when both are 0 (Ignite's `Fbeta`).
    static func fbeta(_ beta: Double, precision: Double, recall: Double) -> Double {
        let b2 = beta * beta
        return b2 * precision + recall > 0 ? (1 + b2) * precision * recall / (b2 * precision + recall) : 0
    }

    /// The score of each class over every rank (0 for a class never predicted or never present). A collective.
    public func computePerClass() throws -> [Double] {
        let global = try reducedSums()
        return perClass(global).map(\.score)
    }

    private func perClass(_ sums: [Double]) -> [(score: Double, support: Double, tp: Double, fp: Double, fn: Double)] {
        ConfusionMatrix.classCounts(sums, classes: matrix.classes).map { counts in
            (
                kind.score(precision: counts.precision, recall: counts.recall), counts.actual, counts.truePositives,
                counts.predicted - counts.truePositives, counts.actual - counts.truePositives
            )
        }
    }

    public func value(from sums: [Double]) throws -> Double {
        let classes = perClass(sums)
        let total = classes.reduce(0) { $0 + $1.support }
        guard total > 0 else { throw MetricError("PrecisionRecall must have at least one example before it can be computed") }
        switch average {
        case .macro: return classes.reduce(0) { $0 + $1.score } / Double(classes.count)
        case .weighted: return classes.reduce(0) { $0 + $1.score * $1.support } / total
        case .micro:
            let tp = classes.reduce(0) { $0 + $1.tp }
            let fp = classes.reduce(0) { $0 + $1.fp }
            let fn = classes.reduce(0) { $0 + $1.fn }
            return kind.score(precision: tp + fp > 0 ? tp / (tp + fp) : 0, recall: tp + fn > 0 ? tp / (tp + fn) : 0)
        }
    }
}

extension PrecisionRecall.Kind {
    /// This score from a precision and a recall.
    func score(precision: Double, recall: Double) -> Double {
        switch self {
        case .precision: precision
        case .recall: recall
        case .f1: precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        case .fbeta(let beta): PrecisionRecall.fbeta(beta, precision: precision, recall: recall)
        }
    }
}

extension ConfusionMatrix {
    /// Each class's true positives, predictions and targets from a matrix's sums (rows true, columns predicted), with
    /// its precision and recall (0 for a class never predicted or never present).
    static func classCounts(_ sums: [Double], classes n: Int)
        -> [(truePositives: Double, predicted: Double, actual: Double, precision: Double, recall: Double)]
    {
        (0..<n).map { c in
            let tp = sums[c * n + c]
            let predicted = (0..<n).reduce(0) { $0 + sums[$1 * n + c] }
            let actual = (0..<n).reduce(0) { $0 + sums[c * n + $1] }
            return (tp, predicted, actual, predicted > 0 ? tp / predicted : 0, actual > 0 ? tp / actual : 0)
        }
    }
}
