import Cluster
import EngineCore
import Foundation

/// A score computed from a confusion matrix's counts (rows true classes, columns predicted), reduced over ranks
/// as the matrix is: Ignite's `IoU`, `mIoU`, `DiceCoefficient`, `MatthewsCorrCoef` and `CohenKappa`.
public final class ConfusionMatrixScore: Metric {
    /// Which score.
    public enum Kind: Sendable, Equatable {
        /// The mean over classes of `TP / (TP + FP + FN)` (Ignite's `mIoU`), classes other than `ignoring`.
        case meanIntersectionOverUnion(ignoring: Int?)
        /// The mean over classes of `2 TP / (2 TP + FP + FN)` (the mean of Ignite's `DiceCoefficient`).
        case meanDice(ignoring: Int?)
        /// The Matthews correlation coefficient of a multiclass classifier.
        case matthewsCorrelation
        /// Cohen's kappa: agreement beyond chance between predictions and targets.
        case cohenKappa
    }

    public var sums: [Double] {
        get { matrix.sums }
        set { matrix.sums = newValue }
    }
    public var communicator: (any Communicator)? {
        get { matrix.communicator }
        set { matrix.communicator = newValue }
    }
    /// The score.
    public let kind: Kind
    private let matrix: ConfusionMatrix

    /// A score over `classes` classes.
    /// - Throws: `ArgumentError` for fewer than 2 classes or an ignored class outside them.
    public init(_ kind: Kind, classes: Int, communicator: (any Communicator)? = nil) throws {
        switch kind {
        case .meanIntersectionOverUnion(let ignored?), .meanDice(let ignored?):
            try ArgumentError.require(ignored >= 0 && ignored < classes, "ConfusionMatrixScore(ignoring:)", ignored, "a class in 0..<\(classes)")
        default: break
        }
        self.kind = kind
        matrix = try ConfusionMatrix(classes: classes, communicator: communicator)
    }

    public func update(_ batch: ClassificationBatch) throws { try matrix.update(batch) }

    /// Each class's intersection over union (or Dice coefficient) over every rank: Ignite's `IoU`. A collective.
    public func computePerClass() throws -> [Double] {
        let counts = try reducedSums()
        guard counts.contains(where: { $0 > 0 }) else { throw MetricError("\(name) must have at least one example before it can be computed") }
        return perClass(counts, dice: { if case .meanDice = kind { true } else { false } }())
    }

    private var name: String {
        switch kind {
        case .meanIntersectionOverUnion: "mIoU"
        case .meanDice: "DiceCoefficient"
        case .matthewsCorrelation: "MatthewsCorrCoef"
        case .cohenKappa: "CohenKappa"
        }
    }

    private func perClass(_ counts: [Double], dice: Bool) -> [Double] {
        let n = matrix.classes
        return (0..<n).map { c in
            let tp = counts[c * n + c]
            let actual = (0..<n).reduce(0) { $0 + counts[c * n + $1] }
            let predicted = (0..<n).reduce(0) { $0 + counts[$1 * n + c] }
            // Ignite adds 1e-15 to the denominator: a class never present nor predicted scores 0.
            return dice ? 2 * tp / (actual + predicted + 1e-15) : tp / (actual + predicted - tp + 1e-15)
        }
    }

    public func value(from counts: [Double]) throws -> Double {
        let n = matrix.classes
        let total = counts.reduce(0, +)
        guard total > 0 else { throw MetricError("\(name) must have at least one example before it can be computed") }
        switch kind {
        case .meanIntersectionOverUnion(let ignored), .meanDice(let ignored):
            let scores = perClass(counts, dice: { if case .meanDice = kind { true } else { false } }())
            let kept = scores.indices.filter { $0 != ignored }.map { scores[$0] }
            return kept.reduce(0, +) / Double(kept.count)
        case .matthewsCorrelation:
            let correct = (0..<n).reduce(0) { $0 + counts[$1 * n + $1] }
            let actual = (0..<n).map { c in (0..<n).reduce(0) { $0 + counts[c * n + $1] } }
            let predicted = (0..<n).map { c in (0..<n).reduce(0) { $0 + counts[$1 * n + c] } }
            let agreement = zip(actual, predicted).reduce(0) { $0 + $1.0 * $1.1 }
            let numerator = correct * total - agreement
            let denominator = sqrt(total * total - predicted.reduce(0) { $0 + $1 * $1 }) * sqrt(total * total - actual.reduce(0) { $0 + $1 * $1 })
            return denominator == 0 ? 0 : numerator / denominator
        case .cohenKappa:
            let observed = (0..<n).reduce(0) { $0 + counts[$1 * n + $1] } / total
            let expected =
                (0..<n).reduce(0.0) { sum, c in
                    let actual = (0..<n).reduce(0) { $0 + counts[c * n + $1] }
                    let predicted = (0..<n).reduce(0) { $0 + counts[$1 * n + c] }
                    return sum + actual * predicted
                } / (total * total)
            return expected == 1 ? 1 : (observed - expected) / (1 - expected)
        }
    }
}

/// The root of the mean squared error per example (Ignite's `RootMeanSquaredError`).
public final class RootMeanSquaredError: Metric {
    /// The mean squared error's sums (this metric is its root).
    public var sums: [Double] {
        get { squared.sums }
        set { squared.sums = newValue }
    }
    public var communicator: (any Communicator)?
    private let squared = MeanSquaredErrorMetric()
    /// A root mean squared error, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: RegressionBatch) throws { try squared.update(batch) }

    public func value(from sums: [Double]) throws -> Double { sqrt(try squared.value(from: sums)) }
}

/// The area under the ROC curve, or the average precision, of a binary classifier's scores, computed exactly from
/// every rank's scores gathered at the end (not binned): Ignite's `ROC_AUC` and `AveragePrecision` (scikit-learn's
/// definitions, ties included).
public final class RankingScore: Metric {
    /// Which area.
    public enum Kind: Sendable { case rocAUC, averagePrecision }
    /// Unused (the scores are kept, not summed); present for `Metric`.
    public var sums: [Double] = []
    public var communicator: (any Communicator)?
    /// Which area.
    public let kind: Kind
    private var scores: [Double] = []
    private var labels: [Double] = []

    /// A score of `kind`, over `communicator`'s ranks when given.
    public init(_ kind: Kind, communicator: (any Communicator)? = nil) {
        self.kind = kind
        self.communicator = communicator
    }

    public func reset() {
        scores = []
        labels = []
    }

    /// The scores and targets kept so far (so a checkpoint mid-epoch resumes the metric).
    public func stateDict() -> StateDict {
        ["scores": .array(scores.map(StateValue.double)), "labels": .array(labels.map(StateValue.double))]
    }

    /// Restores what `stateDict()` saved.
    public func loadStateDict(_ state: StateDict) throws {
        func numbers(_ key: String) throws -> [Double] {
            try state.array(key).map { value in
                if case .double(let number) = value { return number }
                if case .int(let number) = value { return Double(number) }
                throw StateDictError.wrongType(key: key, expected: "numbers")
            }
        }
        let (newScores, newLabels) = (try numbers("scores"), try numbers("labels"))
        guard newScores.count == newLabels.count, newLabels.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            throw StateDictError.invalidValue(key: "labels", reason: "one 0 or 1 per score")
        }
        (scores, labels) = (newScores, newLabels)
    }

    /// Adds a batch of scores (any monotone score: probabilities or logits) and 0/1 targets.
    public func update(_ batch: MultilabelBatch) throws {
        guard batch.labels == 1, batch.scores.count >= batch.count, batch.targets.count >= batch.count else {
            throw MetricError("\(kind == .rocAUC ? "ROC_AUC" : "AveragePrecision"): a binary batch has one score and one target per row")
        }
        for row in 0..<batch.count {
            guard batch.targets[row] == 0 || batch.targets[row] == 1 else {
                throw MetricError("\(kind == .rocAUC ? "ROC_AUC" : "AveragePrecision"): target \(batch.targets[row]) is not 0 or 1")
            }
            scores.append(Double(batch.scores[row]))
            labels.append(Double(batch.targets[row]))
        }
    }

    /// The area over every rank's scores (gathered in rank order). A collective.
    public func compute() throws -> Double {
        var allScores = scores
        var allLabels = labels
        if let communicator, communicator.size > 1 {
            allScores = try communicator.allGather(scores).flatMap { $0 }
            allLabels = try communicator.allGather(labels).flatMap { $0 }
        }
        return try Self.area(kind, scores: allScores, labels: allLabels)
    }

    /// The area over this rank's scores alone: only for one process, as the scores are gathered, not summed.
    /// - Throws: `MetricError` when `communicator` has other ranks (call `compute()`).
    public func value(from sums: [Double]) throws -> Double {
        try requireOneProcess(communicator, kind == .rocAUC ? "ROC_AUC" : "AveragePrecision")
        return try Self.area(kind, scores: scores, labels: labels)
    }

    /// Every rank's scores and targets, gathered in rank order (a collective when `communicator` is set).
    func gathered() throws -> (scores: [Double], labels: [Double]) {
        guard let communicator, communicator.size > 1 else { return (scores, labels) }
        return (try communicator.allGather(scores).flatMap { $0 }, try communicator.allGather(labels).flatMap { $0 })
    }

    /// The area for `scores` and 0/1 `labels`.
    static func area(_ kind: Kind, scores: [Double], labels: [Double]) throws -> Double {
        let counts = try ThresholdCounts(
            scores: scores, labels: labels, metric: kind == .rocAUC ? "ROC_AUC" : "AveragePrecision",
            needsNegatives: kind == .rocAUC)
        var area = 0.0
        var previousRecall = 0.0
        var previousFalseRate = 0.0
        var previousTrueRate = 0.0
        for (truePositives, falsePositives) in zip(counts.truePositives, counts.falsePositives) {
            switch kind {
            case .rocAUC:
                let trueRate = truePositives / counts.positives
                let falseRate = falsePositives / counts.negatives
                area += (falseRate - previousFalseRate) * (trueRate + previousTrueRate) / 2
                (previousFalseRate, previousTrueRate) = (falseRate, trueRate)
            case .averagePrecision:
                let recall = truePositives / counts.positives
                let precision = truePositives / (truePositives + falsePositives)
                area += (recall - previousRecall) * precision
                previousRecall = recall
            }
        }
        return area
    }
}

/// Cumulative true and false positives at each distinct score, from the highest down (tied scores move together):
/// what the ranking areas and curves are computed from.
struct ThresholdCounts {
    let positives: Double
    let negatives: Double
    var truePositives: [Double] = []
    var falsePositives: [Double] = []
    var thresholds: [Double] = []

    /// - Throws: `MetricError` naming `metric` when no target is positive (or, when `needsNegatives`, none negative).
    init(scores: [Double], labels: [Double], metric: String, needsNegatives: Bool) throws {
        positives = labels.reduce(0, +)
        negatives = Double(labels.count) - positives
        guard positives > 0, !needsNegatives || negatives > 0 else {
            throw MetricError("\(metric) is undefined: \(positives == 0 ? "no positive" : "no negative") target")
        }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var tp = 0.0
        var fp = 0.0
        var index = 0
        while index < order.count {
            let threshold = scores[order[index]]
            while index < order.count && scores[order[index]] == threshold {
                if labels[order[index]] == 1 { tp += 1 } else { fp += 1 }
                index += 1
            }
            truePositives.append(tp)
            falsePositives.append(fp)
            thresholds.append(threshold)
        }
    }
}
