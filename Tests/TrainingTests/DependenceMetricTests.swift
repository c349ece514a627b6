import Cluster
import EngineCore
import Testing
import Training

/// Ignite's MutualInformation, MaximumMeanDiscrepancy and HSIC, against pytorch-ignite 0.5.5's values (float32 there).
@Suite("Mutual information, maximum mean discrepancy and HSIC")
struct DependenceMetricTests {
    static let x: [Float] = [0, 1, 1, 0.5, 2, 2, 0.5, 1.5, 1.5, 0]

    @Test("mutual information of softmax predictions, in one process and over 2 ranks")
    func mutualInformation() throws {
        let scores: [Float] = [2, 0.5, -1, 0.1, 0.2, 0.3, -1, 3, 0.5, 1, 1, 1, 0.5, -0.5, 2]
        let labels: [Int32] = [0, 1, 2, 0, 1]
        let metric = try MutualInformation(classes: 3)
        try metric.update(ClassificationBatch(scores: scores, labels: labels, count: 5, classes: 3))
        #expect(abs(try metric.compute() - 0.3278524875640869) < 1e-6)
        let ranks = try SimulatedWorld(size: 2).run { world -> Double in
            let metric = try MutualInformation(classes: 3, communicator: world)
            let rows = world.rank == 0 ? 0..<2 : 2..<5
            try metric.update(
                ClassificationBatch(
                    scores: Array(scores[(rows.lowerBound * 3)..<(rows.upperBound * 3)]), labels: Array(labels[rows]), count: rows.count,
                    classes: 3))
            return try metric.compute()
        }
        #expect(ranks.allSatisfy { abs($0 - 0.3278524875640869) < 1e-6 })
    }

    @Test("maximum mean discrepancy over two batches, and with another bandwidth")
    func discrepancy() throws {
        let y = Self.x.map { $0 * 0.8 + 1.5 }
        let metric = try MaximumMeanDiscrepancy()
        try metric.update(FeaturePairBatch(x: Self.x, y: y, rows: 5))
        try metric.update(FeaturePairBatch(x: Array(Self.x[0..<6]), y: Array(y[2..<8]), rows: 3))
        #expect(abs(try metric.compute() - 0.5761563181877136) < 1e-6)
        let wide = try MaximumMeanDiscrepancy(variance: 2)
        try wide.update(FeaturePairBatch(x: Self.x, y: y, rows: 5))
        #expect(abs(try wide.compute() - 0.6941565871238708) < 1e-6)
        #expect(throws: MetricError.self) { try MaximumMeanDiscrepancy().update(FeaturePairBatch(x: [1, 2], y: [1], rows: 1)) }
    }

    @Test("HSIC with the median bandwidth and with given ones; batches of 3 or fewer are skipped or refused")
    func independence() throws {
        let y: [Float] = [1, 0.5, 3, 1.2, 0.1]
        let median = HSIC()
        try median.update(FeaturePairBatch(x: Self.x, y: y, rows: 5))
        #expect(abs(try median.compute() - 0.046086978167295456) < 1e-6)
        let given = HSIC(sigmaX: 1, sigmaY: 2)
        try given.update(FeaturePairBatch(x: Self.x, y: y, rows: 5))
        #expect(abs(try given.compute() - 0.009123611263930798) < 1e-6)
        let small = FeaturePairBatch(x: [1, 2, 3, 4, 5, 6], y: [1, 2, 3], rows: 3)
        try median.update(small)
        #expect(median.sums[1] == 1, "skipped")
        #expect(throws: MetricError.self) { try HSIC(ignoresInvalidBatches: false).update(small) }
    }
}
