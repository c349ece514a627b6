import Cluster
import Testing
import Training

/// Ignite's clustering metrics, against scikit-learn 1.9's values for the same samples (Ignite calls scikit-learn).
@Suite("Ignite's clustering metrics")
struct ClusteringScoreTests {
    static let features: [Float] = [0, 0, 0.5, 0.2, 1, 0.1, 5, 5, 5.5, 4.8, 4.9, 5.3, 10, 0, 9.5, 0.4, 0.2, 0.9]
    static let labels: [Int32] = [0, 0, 0, 1, 1, 1, 2, 2, 0]
    static let expected: [ClusteringScore.Kind: Double] = [
        .silhouette: 0.8965900009490658, .daviesBouldin: 0.1095034511252249, .calinskiHarabasz: 311.08408517435134
    ]
    static func batch(_ rows: Range<Int>) -> ClusteringBatch {
        ClusteringBatch(features: Array(features[(rows.lowerBound * 2)..<(rows.upperBound * 2)]), labels: Array(labels[rows]), width: 2)
    }

    @Test("silhouette, Davies-Bouldin and Calinski-Harabasz equal scikit-learn's, in one process and over 3 ranks")
    func scores() throws {
        for (kind, value) in Self.expected {
            let metric = ClusteringScore(kind)
            try metric.update(Self.batch(0..<9))
            #expect(abs(try metric.compute() - value) < 1e-9 * Swift.max(1, value), "\(kind)")
            let restored = ClusteringScore(kind)
            try restored.loadStateDict(metric.stateDict())
            #expect(try restored.compute() == metric.compute())
            let ranks = try SimulatedWorld(size: 3).run { world -> Double in
                let metric = ClusteringScore(kind, communicator: world)
                if world.rank < 2 { try metric.update(Self.batch(world.rank == 0 ? 0..<4 : 4..<9)) }
                return try metric.compute()
            }
            #expect(ranks.allSatisfy { $0 == (try? metric.compute()) }, "\(kind) over ranks")
        }
    }

    @Test("one cluster, or as many as samples, or features that are not whole samples, are errors")
    func refusals() throws {
        let single = ClusteringScore(.silhouette)
        try single.update(ClusteringBatch(features: [0, 1, 2, 3], labels: [0, 0], width: 2))
        #expect(throws: MetricError.self) { try single.compute() }
        #expect(throws: MetricError.self) {
            try ClusteringScore(.daviesBouldin).update(ClusteringBatch(features: [1, 2, 3], labels: [0, 1], width: 2))
        }
        #expect(throws: MetricError.self) { try ClusteringScore(.calinskiHarabasz).compute() }
    }
}
