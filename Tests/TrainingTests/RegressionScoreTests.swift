import Cluster
import Testing
import Training

/// Ignite's `ignite.metrics.regression` metrics, against the values pytorch-ignite 0.5.5 computes for the same data
/// (its accumulators are float32, hence the tolerance), over one process and over uneven ranks.
@Suite("Ignite's regression metrics")
struct RegressionScoreTests {
    static let targets: [Float] = [0.5, 1, 2, 3, 4.5, 5, 7.25, 8]
    static let predictions: [Float] = [0.7, 1.4, 1.5, 3.3, 4.0, 5.9, 6.8, 8.6]
    static func batch(_ rows: Range<Int>) -> RegressionBatch {
        RegressionBatch(predictions: Array(predictions[rows]), targets: Array(targets[rows]))
    }
    static func close(_ value: Double, _ expected: Double) -> Bool { abs(value - expected) <= 1e-6 * Swift.max(1, abs(expected)) }

    @Test("the summing scores equal Ignite's, and over 3 uneven ranks (one empty) the one-process value")
    func summingScores() throws {
        let expected: [RegressionScore.Kind: Double] = [
            .canberra: 0.7333748936653137, .fractionalAbsoluteError: 0.18334372341632843, .fractionalBias: -0.06648915614632155,
            .geometricMeanAbsoluteError: 0.44204825162887573, .manhattanDistance: 3.8499999046325684,
            .meanAbsoluteRelativeError: 0.19727250933647156, .meanError: -0.11874999850988388,
            .meanNormalizedBias: -0.09147749096155167, .waveHedgesDistance: 1.3078275918960571
        ]
        #expect(Set(expected.keys) == Set(RegressionScore.Kind.allCases))
        for (kind, value) in expected {
            let metric = RegressionScore(kind)
            try metric.update(Self.batch(0..<8))
            #expect(Self.close(try metric.compute(), value), "\(kind)")
            let ranks = try SimulatedWorld(size: 3).run { world -> Double in
                let metric = RegressionScore(kind, communicator: world)
                let rows = [0..<5, 5..<8, 8..<8][world.rank]
                if !rows.isEmpty { try metric.update(Self.batch(rows)) }
                return try metric.compute()
            }
            for rank in ranks { #expect(abs(rank - (try metric.compute())) <= 1e-12 * Swift.max(1, abs(rank)), "\(kind) over ranks") }
        }
        #expect(throws: MetricError.self) { try RegressionScore(.meanNormalizedBias).update(RegressionBatch(predictions: [1], targets: [0])) }
        #expect(throws: MetricError.self) { try RegressionScore(.meanError).compute() }
    }

    @Test("the maximum absolute error is a maximum over every rank, an empty rank offering nothing")
    func maximum() throws {
        let single = MaximumAbsoluteError()
        try single.update(Self.batch(0..<8))
        #expect(Self.close(try single.compute(), 0.9000000000000004))
        let ranks = try SimulatedWorld(size: 3).run { world -> Double in
            let metric = MaximumAbsoluteError(communicator: world)
            if world.rank < 2 { try metric.update(Self.batch(world.rank == 0 ? 0..<3 : 3..<8)) }
            return try metric.compute()
        }
        #expect(ranks.allSatisfy { $0 == (try? single.compute()) })
        #expect(throws: MetricError.self) { try MaximumAbsoluteError().compute() }
    }

    @Test("medians and the geometric relative error gather every rank's values, as Ignite's")
    func gathered() throws {
        let expected: [(String, @Sendable (any Communicator) -> EpochMetric, Double)] = [
            ("MedianAbsoluteError", { EpochMetric.medianAbsoluteError(communicator: $0) }, 0.4750000000000001),
            ("MedianAbsolutePercentageError", { EpochMetric.medianAbsolutePercentageError(communicator: $0) }, 14.55555555555556),
            ("MedianRelativeAbsoluteError", { EpochMetric.medianRelativeAbsoluteError(communicator: $0) }, 0.20442998373169813),
            ("GeometricMeanRelativeAbsoluteError", { EpochMetric.geometricMeanRelativeAbsoluteError(communicator: $0) }, 0.2359013460990481)
        ]
        for (name, make, value) in expected {
            let single = make(LocalCommunicator())
            try single.update(Self.batch(0..<8))
            #expect(Self.close(try single.compute(), value), "\(name)")
            let ranks = try SimulatedWorld(size: 2).run { world -> Double in
                let metric = make(world)
                try metric.update(Self.batch(world.rank == 0 ? 0..<3 : 3..<8))
                return try metric.compute()
            }
            #expect(ranks.allSatisfy { $0 == (try? single.compute()) }, "\(name) over ranks")
        }
    }

    @Test("Spearman's and Kendall's rank correlations, ties included (scipy's definitions)")
    func rankCorrelations() throws {
        func value(_ metric: EpochMetric, _ x: [Float], _ y: [Float]) throws -> Double {
            try metric.update(RegressionBatch(predictions: x, targets: y))
            return try metric.compute()
        }
        let x: [Float] = [0.5, 2.8, 1.9, 1.3, 6.0, 4.1]
        let y: [Float] = [0, 1, 2, 3, 4, 5]
        #expect(abs(try value(.spearmanRankCorrelation(), x, y) - 0.7142857142857143) < 1e-12)
        #expect(abs(try value(.kendallRankCorrelation(), x, y) - 0.4666666666666667) < 1e-12)
        #expect(abs(try value(.spearmanRankCorrelation(), [1, 2, 2, 3], [1, 3, 2, 4]) - 0.9486832980505138) < 1e-12)
        #expect(abs(try value(.kendallRankCorrelation(), [1, 2, 2, 3], [1, 3, 2, 4]) - 0.9128709291752769) < 1e-12)
        #expect(throws: MetricError.self) { try value(.spearmanRankCorrelation(), [1, 1, 1], [1, 2, 3]) }
    }
}
