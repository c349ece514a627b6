import Cluster
import EngineCore
import Testing
import Training

/// Ignite's fairness metrics, against pytorch-ignite 0.5.5's values for the same predictions, labels and subgroups.
@Suite("Ignite's fairness metrics")
struct FairnessTests {
    static let scores: [Float] = [
        0.9, 0.1, 0, 0.2, 0.7, 0.1, 0.1, 0.1, 0.8, 0.6, 0.3, 0.1, 0.3, 0.4, 0.3, 0.2, 0.2, 0.6, 0.5, 0.4, 0.1, 0.1, 0.8, 0.1, 0.7, 0.2, 0.1, 0.3,
        0.3, 0.4
    ]
    static let labels: [Int32] = [0, 1, 2, 1, 1, 0, 0, 1, 2, 2]
    static let groups: [Int32] = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    static func batch(_ rows: Range<Int>) -> GroupedClassificationBatch {
        GroupedClassificationBatch(
            ClassificationBatch(
                scores: Array(scores[(rows.lowerBound * 3)..<(rows.upperBound * 3)]), labels: Array(labels[rows]), count: rows.count,
                classes: 3),
            groups: Array(groups[rows]))
    }

    @Test("accuracy difference and demographic parity difference equal Ignite's, in one process and over 3 ranks (one empty)")
    func differences() throws {
        let expected: [(String, @Sendable (any Communicator) throws -> SubgroupDifference, Double)] = [
            ("SubgroupAccuracyDifference", { try .accuracyDifference(groups: [0, 1, 2], communicator: $0) }, 0.6666666666666667),
            ("DemographicParityDifference", { try .demographicParityDifference(groups: [0, 1, 2], classes: 3, communicator: $0) }, 1.0 / 6)
        ]
        for (name, make, value) in expected {
            let single = try make(LocalCommunicator())
            try single.update(Self.batch(0..<10))
            #expect(abs(try single.compute() - value) < 1e-7, "\(name)")
            let restored = try make(LocalCommunicator())
            try restored.loadStateDict(single.stateDict())
            #expect(try restored.compute() == single.compute())
            let ranks = try SimulatedWorld(size: 3).run { world -> Double in
                let metric = try make(world)
                if world.rank < 2 { try metric.update(Self.batch(world.rank == 0 ? 0..<4 : 4..<10)) }
                return try metric.compute()
            }
            #expect(ranks.allSatisfy { abs($0 - value) < 1e-12 }, "\(name) over ranks: \(ranks)")
        }
    }

    @Test("one subgroup seen, an undeclared subgroup, or fewer than two groups are errors")
    func refusals() throws {
        let metric = try SubgroupDifference.accuracyDifference(groups: [0, 1, 2])
        try metric.update(Self.batch(0..<3))
        #expect(throws: MetricError.self) { try metric.compute() }
        #expect(throws: MetricError.self) {
            try metric.update(GroupedClassificationBatch(ClassificationBatch(scores: [1, 0, 0], labels: [0], count: 1, classes: 3), groups: [7]))
        }
        #expect(throws: ArgumentError.self) { try SubgroupDifference.accuracyDifference(groups: [1]) }
        #expect(throws: ArgumentError.self) { try SubgroupDifference.accuracyDifference(groups: [1, 1]) }
    }
}
