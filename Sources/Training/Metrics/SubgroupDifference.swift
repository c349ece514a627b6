import Cluster
import EngineCore

/// A classification batch with each sample's subgroup (a demographic attribute), for fairness metrics.
public struct GroupedClassificationBatch: Sendable {
    /// The predictions and labels.
    public let batch: ClassificationBatch
    /// One subgroup per sample of the batch.
    public let groups: [Int32]

    /// A batch whose row `i` belongs to subgroup `groups[i]`.
    public init(_ batch: ClassificationBatch, groups: [Int32]) {
        self.batch = batch
        self.groups = groups
    }

    /// The rows of subgroup `group`.
    func rows(of group: Int32) -> ClassificationBatch? {
        let rows = (0..<batch.valid).filter { groups[$0] == group }
        guard !rows.isEmpty else { return nil }
        let classes = batch.classes
        return ClassificationBatch(
            scores: rows.flatMap { batch.scores[($0 * classes)..<(($0 + 1) * classes)] }, labels: rows.map { batch.labels[$0] },
            count: rows.count, classes: classes)
    }
}

/// The rate at which each class is predicted (Ignite's `SelectionRate`): the positives per class over the samples.
public final class SelectionRate: Metric {
    /// [predicted count of each class..., samples].
    public var sums: [Double]
    public var communicator: (any Communicator)?
    /// Classes of the predictions.
    public let classes: Int

    /// A selection rate over `classes` classes.
    /// - Throws: `ArgumentError` for fewer than 2 classes.
    public init(classes: Int, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(classes >= 2, "SelectionRate(classes:)", classes, "at least 2")
        self.classes = classes
        self.communicator = communicator
        sums = Array(repeating: 0, count: classes + 1)
    }

    public func update(_ batch: ClassificationBatch) throws {
        try batch.validate(metric: "SelectionRate", classes: classes, labelsInRange: false)
        for row in 0..<batch.valid { sums[batch.predictedClass(row)] += 1 }
        sums[classes] += Double(batch.valid)
    }

    /// Each class's rate over every rank (a collective when `communicator` is set).
    public func computeRates() throws -> [Double] { try Self.rates(from: try reducedSums()) }

    /// The rate of class 1 (the positive class of a binary classifier).
    public func value(from sums: [Double]) throws -> Double { try Self.rates(from: sums)[1] }

    static func rates(from sums: [Double]) throws -> [Double] {
        guard let samples = sums.last, samples > 0 else {
            throw MetricError("SelectionRate must have at least one example before it can be computed")
        }
        return sums.dropLast().map { $0 / samples }
    }
}

/// The largest difference of a metric between any two subgroups (Ignite's `SubgroupDifference`): one metric per
/// subgroup, each reduced over the ranks; subgroups no rank saw are left out. `accuracyDifference` and
/// `demographicParityDifference` are Ignite's `AccuracyDifference` and `DemographicParityDifference`.
public final class SubgroupDifference: Metric {
    /// The subgroups, in the order given.
    public let groups: [Int32]
    private let metrics: [any Metric<ClassificationBatch>]
    private let values: (any Metric<ClassificationBatch>) throws -> [Double]

    /// A difference of the metrics `make` builds, one per subgroup; `values` reads a metric's value or values (per
    /// class; the difference is then the largest over them).
    /// - Throws: `ArgumentError` for fewer than 2 subgroups or one given twice.
    public init(
        groups: [Int32], communicator: (any Communicator)? = nil, make: () throws -> any Metric<ClassificationBatch>,
        values: @escaping (any Metric<ClassificationBatch>) throws -> [Double] = { [try $0.compute()] }
    ) throws {
        try ArgumentError.require(
            groups.count >= 2 && Set(groups).count == groups.count, "SubgroupDifference(groups:)", groups, "2 or more distinct groups")
        self.groups = groups
        self.values = values
        metrics = try groups.map { _ in try make() }
        for metric in metrics { metric.communicator = communicator }
    }

    /// Ignite's `AccuracyDifference`: the largest accuracy gap between subgroups.
    public static func accuracyDifference(groups: [Int32], communicator: (any Communicator)? = nil) throws -> SubgroupDifference {
        try SubgroupDifference(groups: groups, communicator: communicator) { Accuracy() }
    }

    /// Ignite's `DemographicParityDifference`: the largest gap in any class's selection rate between subgroups.
    public static func demographicParityDifference(
        groups: [Int32], classes: Int, communicator: (any Communicator)? = nil
    ) throws -> SubgroupDifference {
        try SubgroupDifference(groups: groups, communicator: communicator, make: { try SelectionRate(classes: classes) }) { metric in
            try (metric as! SelectionRate).computeRates()
        }
    }

    /// Every subgroup metric's sums, one after another.
    public var sums: [Double] {
        get { metrics.flatMap(\.sums) }
        set {
            var offset = 0
            for metric in metrics {
                let count = metric.sums.count
                metric.sums = Array(newValue[offset..<offset + count])
                offset += count
            }
        }
    }

    public var communicator: (any Communicator)? {
        get { metrics.first?.communicator }
        set { for metric in metrics { metric.communicator = newValue } }
    }

    public func reset() { for metric in metrics { metric.reset() } }

    /// Adds each subgroup's rows to its metric.
    /// - Throws: `MetricError` for a sample of a subgroup not declared, or groups of another count than the samples.
    public func update(_ input: GroupedClassificationBatch) throws {
        guard input.groups.count >= input.batch.valid else {
            throw MetricError("SubgroupDifference: \(input.groups.count) groups for \(input.batch.valid) samples")
        }
        if let unknown = input.groups.prefix(input.batch.valid).first(where: { !groups.contains($0) }) {
            throw MetricError("SubgroupDifference: group \(unknown) is not one of \(groups)")
        }
        for (group, metric) in zip(groups, metrics) {
            if let rows = input.rows(of: group) { try metric.update(rows) }
        }
    }

    /// The largest difference between the subgroups any rank saw (collectives, every subgroup in order).
    /// - Throws: `MetricError` when fewer than 2 subgroups have samples.
    public func compute() throws -> Double {
        var results: [[Double]] = []
        for metric in metrics {
            do { results.append(try values(metric)) } catch is MetricError { continue }  // a subgroup no rank saw
        }
        guard !results.isEmpty else { throw MetricError("Fairness metrics must have at least one example before it can be computed") }
        guard results.count >= 2 else { throw MetricError("Fairness metrics require at least two unique subgroups to compute a disparity") }
        return (0..<results[0].count).map { index in
            let column = results.map { $0[index] }
            return column.max()! - column.min()!
        }.max()!
    }

    /// The difference from summed sums of one process (`compute()` reduces over the ranks first).
    public func value(from sums: [Double]) throws -> Double {
        let saved = self.sums
        self.sums = sums
        defer { self.sums = saved }
        let communicator = self.communicator
        self.communicator = nil
        defer { self.communicator = communicator }
        return try compute()
    }
}
