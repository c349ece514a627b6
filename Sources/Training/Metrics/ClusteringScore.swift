import Cluster
import EngineCore
import Foundation

/// Samples' feature vectors and the clusters they were assigned, for clustering scores.
public struct ClusteringBatch: Sendable {
    /// `count x width` features, row-major.
    public let features: [Float]
    /// One cluster label per sample.
    public let labels: [Int32]
    /// Features per sample.
    public let width: Int

    /// A batch of `labels.count` samples of `width` features each.
    public init(features: [Float], labels: [Int32], width: Int) {
        self.features = features
        self.labels = labels
        self.width = width
    }
}

/// How well samples are clustered (Ignite's `SilhouetteScore`, `DaviesBouldinScore` and `CalinskiHarabaszScore`, which
/// call scikit-learn's): every rank's samples are gathered in rank order and scored together with Euclidean distances.
public final class ClusteringScore: Metric {
    /// Which score, with scikit-learn's definition.
    public enum Kind: String, Sendable, CaseIterable {
        /// Mean over samples of (b − a) / max(a, b): a the mean distance within the sample's cluster, b to the nearest
        /// other cluster (0 for a sample alone in its cluster). Higher is better, in [−1, 1].
        case silhouette = "SilhouetteScore"
        /// Mean over clusters of the largest (sᵢ + sⱼ) / d(cᵢ, cⱼ), s the mean distance to the centroid. Lower is better.
        case daviesBouldin = "DaviesBouldinScore"
        /// Between-cluster over within-cluster dispersion, scaled by (n − k) / (k − 1). Higher is better.
        case calinskiHarabasz = "CalinskiHarabaszScore"
    }

    /// Unused (the samples are kept, not summed); present for `Metric`.
    public var sums: [Double] = []
    public var communicator: (any Communicator)?
    /// The score computed.
    public let kind: Kind
    private var features: [Float] = []
    private var labels: [Int32] = []
    private var width: Int?

    /// A score of `kind` over `communicator`'s ranks when given.
    public init(_ kind: Kind, communicator: (any Communicator)? = nil) {
        self.kind = kind
        self.communicator = communicator
    }

    public func reset() {
        features = []
        labels = []
    }

    /// Keeps a batch's samples.
    /// - Throws: `MetricError` when the features do not hold `width` values per label, or the width changed.
    public func update(_ batch: ClusteringBatch) throws {
        guard batch.width > 0, batch.features.count == batch.labels.count * batch.width else {
            throw MetricError("\(kind.rawValue): \(batch.features.count) features are not \(batch.width) per each of \(batch.labels.count) labels")
        }
        if let width, width != batch.width { throw MetricError("\(kind.rawValue): samples of \(batch.width) features after \(width)") }
        width = batch.width
        features += batch.features
        labels += batch.labels
    }

    /// The score over every rank's samples (gathered in rank order). A collective.
    public func compute() throws -> Double {
        var (allFeatures, allLabels, allWidth) = (features, labels, width ?? 0)
        if let communicator, communicator.size > 1 {
            allFeatures = try communicator.allGather(features).flatMap { $0 }
            allLabels = try communicator.allGather(labels).flatMap { $0 }
            allWidth = try communicator.allReduce(width ?? 0, .max)
        }
        return try Self.score(kind, features: allFeatures, labels: allLabels, width: allWidth)
    }

    /// The score of this rank's samples alone: only for one process, as the samples are gathered, not summed.
    public func value(from sums: [Double]) throws -> Double {
        try requireOneProcess(communicator, kind.rawValue)
        return try Self.score(kind, features: features, labels: labels, width: width ?? 0)
    }

    public func stateDict() -> StateDict {
        [
            "features": .tensor(shape: [features.count], values: features), "labels": .array(labels.map { .int(Int($0)) }),
            "width": .int(width ?? 0)
        ]
    }

    public func loadStateDict(_ state: StateDict) throws {
        let savedWidth = try state.int("width")
        guard case .tensor(_, let savedFeatures)? = state["features"], savedWidth >= 0 else {
            throw StateDictError.wrongType(key: "features", expected: "a tensor")
        }
        let savedLabels = try state.array("labels").map { value -> Int32 in
            guard case .int(let label) = value, let narrow = Int32(exactly: label) else {
                throw StateDictError.wrongType(key: "labels", expected: "integers")
            }
            return narrow
        }
        guard savedFeatures.count == savedLabels.count * savedWidth else {
            throw StateDictError.invalidValue(key: "features", reason: "not \(savedWidth) per label")
        }
        (features, labels, width) = (savedFeatures, savedLabels, savedWidth == 0 ? nil : savedWidth)
    }

    /// scikit-learn's score of `kind`.
    static func score(_ kind: Kind, features: [Float], labels: [Int32], width: Int) throws -> Double {
        let count = labels.count
        guard count > 0, width > 0 else { throw MetricError("\(kind.rawValue) must have at least one example before it can be computed") }
        let clusters = Array(Set(labels)).sorted()
        guard clusters.count >= 2, clusters.count <= count - 1 else {
            throw MetricError("\(kind.rawValue): \(clusters.count) clusters for \(count) samples; it needs 2 to \(count - 1)")
        }
        let points = (0..<count).map { row in (0..<width).map { Double(features[row * width + $0]) } }
        func distance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
        let members = clusters.map { cluster in labels.indices.filter { labels[$0] == cluster } }
        let centroids = members.map { rows in
            (0..<width).map { column in rows.reduce(0.0) { $0 + points[$1][column] } / Double(rows.count) }
        }
        switch kind {
        case .silhouette:
            var total = 0.0
            for (own, rows) in members.enumerated() {
                for row in rows {
                    guard rows.count > 1 else { continue }  // a sample alone in its cluster scores 0
                    let a = rows.reduce(0.0) { $0 + distance(points[row], points[$1]) } / Double(rows.count - 1)
                    var b = Double.infinity
                    for (other, others) in members.enumerated() where other != own {
                        b = Swift.min(b, others.reduce(0.0) { $0 + distance(points[row], points[$1]) } / Double(others.count))
                    }
                    total += (b - a) / Swift.max(a, b)
                }
            }
            return total / Double(count)
        case .daviesBouldin:
            let spreads = members.indices.map { index in
                members[index].reduce(0.0) { $0 + distance(points[$1], centroids[index]) } / Double(members[index].count)
            }
            if spreads.allSatisfy({ $0 == 0 }) { return 0 }
            var total = 0.0
            for i in members.indices {
                var worst = 0.0
                for j in members.indices where j != i {
                    let separation = distance(centroids[i], centroids[j])
                    worst = Swift.max(worst, separation == 0 ? .infinity : (spreads[i] + spreads[j]) / separation)
                }
                total += worst
            }
            return total / Double(members.count)
        case .calinskiHarabasz:
            let mean = (0..<width).map { column in points.reduce(0.0) { $0 + $1[column] } / Double(count) }
            var between = 0.0
            var within = 0.0
            for (index, rows) in members.enumerated() {
                let offset = distance(centroids[index], mean)
                between += Double(rows.count) * offset * offset
                for row in rows {
                    let spread = distance(points[row], centroids[index])
                    within += spread * spread
                }
            }
            let k = Double(members.count)
            return within == 0 ? 1 : between * (Double(count) - k) / (within * (k - 1))
        }
    }
}
