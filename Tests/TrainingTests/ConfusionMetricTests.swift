import Cluster
import EngineCore
import Testing
import Training

/// Metrics from the confusion matrix and from ranked scores, against values computed independently with NumPy
/// (scikit-learn's definitions) for the same data.
@Suite("Confusion-matrix and ranking metrics")
struct ConfusionMetricTests {
    static let labels: [Int32] = [
        2, 0, 0, 0, 0, 2, 2, 1, 0, 0, 0, 1, 1, 1, 0, 0, 2, 2, 0, 0, 1, 1, 2, 1, 1, 1, 1, 1, 0, 2, 2, 2, 2, 0, 0, 1, 1, 2, 2, 0
    ]
    static let scores: [Float] = [
        0.02426, 1.545821, 1.545106, 0.494771, -0.182839, 0.540525, 2.935088, -0.26962, -0.243559, 2.002314, -0.88646, -0.29172, 1.882539, 0.58035,
        0.091517, 0.670104, -2.828162, 2.021307, -0.959645, -1.66862, 1.276446, 0.700545, 0.555233, -1.076406, 1.026125, -0.052747, 1.405598,
        1.747408, 0.193816, 1.111633, 0.794477, -0.9259, 0.584058, 0.582538, 0.785171, -0.782809, 0.229154, -1.493894, 0.690125, 0.491368, -0.638857,
        0.061354, 0.0359, 0.757221, -2.034167, 0.085505, 0.70958, 1.156401, -2.158005, -0.49804, 1.32802, -0.609216, 1.59064, -0.191227, 1.354532,
        -1.048406, 1.405963, 0.978349, -0.372251, -1.718185, 1.681826, 1.752779, 0.753564, 1.137881, 1.349227, -0.639247, -0.800241, -0.8002,
        2.370072, -1.460381, 0.40363, -0.321244, 0.224619, 1.575349, -1.249097, -1.730013, 0.995586, 1.213564, 0.757058, 1.215651, -0.317156,
        0.293234, 0.756665, 0.817207, 0.205553, 0.13424, -0.11078, 0.543359, 0.224639, 3.550035, 1.498655, 1.496737, -1.039504, -0.340317, -0.608611,
        1.532722, -2.279026, 1.174499, 2.066983, -0.302071, -0.978549, -0.801172, 1.043296, 0.640971, 2.047886, -0.197445, 1.767503, 0.155418,
        1.759926, 1.742158, 1.36855, -1.077675, -0.192241, 0.186228, 1.504947, 0.65764, 0.694856, 0.547532, 0.484665, -0.701496
    ]

    /// `metric` updated with the 40 rows in batches of 7, on one process and split over three simulated ranks.
    func computed(_ make: @escaping @Sendable ((any Communicator)?) throws -> any Metric<ClassificationBatch>) throws -> [Double] {
        @Sendable func feed(_ metric: any Metric<ClassificationBatch>, rows: [Int]) throws {
            for start in stride(from: 0, to: rows.count, by: 7) {
                let chunk = Array(rows[start..<min(rows.count, start + 7)])
                try metric.update(
                    ClassificationBatch(
                        scores: chunk.flatMap { Self.scores[($0 * 3)..<($0 * 3 + 3)] },
                        labels: chunk.map { Self.labels[$0] }, count: chunk.count, classes: 3))
            }
        }
        let single = try make(nil)
        try feed(single, rows: Array(0..<40))
        let distributed = try SimulatedWorld(size: 3).run { world -> Double in
            let metric = try make(world)
            try feed(metric, rows: Array(stride(from: world.rank, to: 40, by: 3)))
            return try metric.compute()
        }
        return [try single.compute()] + distributed
    }

    func expect(_ values: [Double], _ expected: Double) {
        for value in values { #expect(abs(value - expected) < 1e-12, "\(value) vs \(expected)") }
    }

    @Test("mIoU, Dice, Matthews correlation, Cohen's kappa and macro F2 equal NumPy's, on one rank and on three")
    func matrixScores() throws {
        expect(try computed { try ConfusionMatrixScore(.meanIntersectionOverUnion(ignoring: nil), classes: 3, communicator: $0) }, 0.4291666666666667)
        expect(try computed { try ConfusionMatrixScore(.meanDice(ignoring: nil), classes: 3, communicator: $0) }, 0.6002712929249661)
        expect(try computed { try ConfusionMatrixScore(.matthewsCorrelation, classes: 3, communicator: $0) }, 0.4056961341072152)
        expect(try computed { try ConfusionMatrixScore(.cohenKappa, classes: 3, communicator: $0) }, 0.4007490636704119)
        expect(try computed { try PrecisionRecall(.fbeta(2), classes: 3, average: .macro, communicator: $0) }, 0.5992080790467887)
        #expect(throws: ArgumentError.self) { try ConfusionMatrixScore(.meanDice(ignoring: 3), classes: 3) }
        #expect(throws: ArgumentError.self) { try PrecisionRecall(.fbeta(0), classes: 3) }
    }

    @Test("ROC AUC and average precision are exact over every rank's scores, ties included")
    func rankingScores() throws {
        let targets: [Int32] = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1]
        let scores: [Float] = [0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.4, 0.6, 0.55, 0.3, 0.35, 0.7]
        for (kind, expected) in [(RankingScore.Kind.rocAUC, 0.7571428571428571), (.averagePrecision, 0.7837868480725624)] {
            let single = RankingScore(kind)
            try single.update(MultilabelBatch(scores: scores, targets: targets, count: 12))
            #expect(abs(try single.compute() - expected) < 1e-12)
            let split = try SimulatedWorld(size: 3).run { world -> Double in
                let metric = RankingScore(kind, communicator: world)
                let rows = Array(stride(from: world.rank, to: 12, by: 3))
                try metric.update(MultilabelBatch(scores: rows.map { scores[$0] }, targets: rows.map { targets[$0] }, count: rows.count))
                return try metric.compute()
            }
            for value in split { #expect(abs(value - expected) < 1e-12) }
        }
        let onlyNegatives = RankingScore(.rocAUC)
        try onlyNegatives.update(MultilabelBatch(scores: [0.2], targets: [0], count: 1))
        #expect(throws: MetricError.self) { try onlyNegatives.compute() }
    }

    @Test("gathered metrics (ROC AUC, average precision, EpochMetric) attached, in an expression and in a group use every rank")
    func gatheredMetricsAttached() throws {
        let targets: [Int32] = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1]
        let scores: [Float] = [0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.4, 0.6, 0.55, 0.3, 0.35, 0.7]
        let expectedMedian = Double(scores.sorted()[6])
        let shards = [0..<7, 7..<12, 12..<12]
        let results = try SimulatedWorld(size: 3).run { world -> [String: Double] in
            let rows = Array(shards[world.rank])
            let batch = MultilabelBatch(scores: rows.map { scores[$0] }, targets: rows.map { targets[$0] }, count: rows.count)
            let engine = Engine<MultilabelBatch, MultilabelBatch> { _, batch in batch }
            try RankingScore(.rocAUC, communicator: world).attach(to: engine, name: "auc") { $0 }
            let precision = MetricExpression<MultilabelBatch, MultilabelBatch>(
                RankingScore(.averagePrecision, communicator: world)
            ) { $0 }
            try (precision * 1).attach(to: engine, name: "ap")
            let medianMetric = EpochMetric(communicator: world) { predictions, _ in Double(predictions.sorted()[predictions.count / 2]) }
            try medianMetric.attach(to: engine, name: "median") { RegressionBatch(predictions: $0.scores, targets: $0.scores) }
            let group = try MetricGroup<MultilabelBatch>(["roc": CurveMetric(.roc, communicator: world)])
            try group.attach(to: engine) { $0 }
            try engine.run([batch], maxEpochs: 1)
            // Summed sums cannot stand for gathered scores: value(from:) refuses instead of answering for one rank.
            #expect(throws: MetricError.self) { try medianMetric.value(from: []) }
            return engine.state.metrics
        }
        for metrics in results {
            #expect(abs(metrics["auc"]! - 0.7571428571428571) < 1e-12)
            #expect(abs(metrics["roc"]! - 0.7571428571428571) < 1e-12)
            #expect(abs(metrics["ap"]! - 0.7837868480725624) < 1e-12)
            #expect(metrics["median"] == expectedMedian)
        }
    }

    @Test("RMSE is the root of the per-example MSE")
    func rootMeanSquared() throws {
        let rmse = RootMeanSquaredError()
        try rmse.update(RegressionBatch(predictions: [1, 2, 4], targets: [1, 0, 1]))
        #expect(abs(try rmse.compute() - (13.0 / 3).squareRoot()) < 1e-12)
    }
}

@Suite("Metric arithmetic")
struct MetricExpressionTests {
    @Test("F1 written as (P · R · 2) / (P + R) equals the F1 metric; each metric is updated and computed once")
    func f1FromPrecisionAndRecall() throws {
        let engine = Engine<ClassificationBatch, ClassificationBatch> { _, batch in batch }
        let precision = try PrecisionRecall(.precision, classes: 3)
        let recall = try PrecisionRecall(.recall, classes: 3)
        let f1 = try PrecisionRecall(.f1, classes: 3)
        let p = MetricExpression<ClassificationBatch, ClassificationBatch>(precision) { $0 }
        let r = MetricExpression<ClassificationBatch, ClassificationBatch>(recall) { $0 }
        // Per class would differ from macro F1; a binary-like check: macro precision and recall of the expression.
        try (p * r * 2 / (p + r)).attach(to: engine, name: "harmonic")
        try (p - r).map { abs($0) }.attach(to: engine, name: "gap", usage: .runWise)
        try f1.attach(to: engine, name: "f1", outputTransform: { $0 })
        let batches = stride(from: 0, to: 40, by: 8).map { start in
            let rows = Array(start..<min(40, start + 8))
            return ClassificationBatch(
                scores: rows.flatMap { ConfusionMetricTests.scores[($0 * 3)..<($0 * 3 + 3)] },
                labels: rows.map { ConfusionMetricTests.labels[$0] }, count: rows.count, classes: 3)
        }
        try engine.run(batches, maxEpochs: 2)
        let pValue = try precision.compute()
        let rValue = try recall.compute()
        #expect(engine.state.metrics["harmonic"] == pValue * rValue * 2 / (pValue + rValue))
        #expect(engine.state.metrics["gap"] == abs(pValue - rValue))
        // One epoch's counts: reset once per epoch, updated once per iteration, although read four times.
        #expect(precision.sums.reduce(0, +) == 40)
    }
}

@Suite("Vector and distribution metrics")
struct VectorMetricTests {
    static let predicted: [Float] = [
        1.8423, 0.5189, -1.7119, -1.7014, 2.0194, -0.2686, -0.1307, -1.4374, 2.6146, -0.434, 0.3523, -0.0646, 0.7686, 0.9233, -0.5583, 0.7796, 0.7448,
        0.0317, -1.1724, -1.5069, -0.1481, 0.3715, 0.2273, -0.0647
    ]
    static let targets: [Float] = [
        0.8183, -0.6633, 0.2653, -1.566, -1.6407, -0.0197, 0.2278, -0.3985, -0.5181, 1.5633, 1.2358, 1.4962, 0.4731, 0.607, -0.8779, -0.7426, 0.2832,
        -1.4981, -0.3091, -0.6041, -1.9672, -0.1368, 1.8703, 0.1505
    ]

    /// Six examples of four values, fed three examples at a time.
    func feed<M: Metric>(_ metric: M) throws -> Double where M.Input == RegressionBatch {
        for start in [0, 12] {
            try metric.update(
                RegressionBatch(
                    predictions: Array(Self.predicted[start..<(start + 12)]),
                    targets: Array(Self.targets[start..<(start + 12)]), examples: 3))
        }
        return try metric.compute()
    }

    @Test("cosine similarity, pairwise distance, Pearson, entropy, KL, JS and geometric mean equal PyTorch's")
    func againstTorch() throws {
        #expect(abs(try feed(CosineSimilarity()) - 0.16784468655384857) < 1e-6)
        #expect(abs(try feed(MeanPairwiseDistance()) - 2.772519434675239) < 1e-6)
        #expect(abs(try feed(PearsonCorrelation()) - 0.07385615285884843) < 1e-6)
        #expect(abs(try feed(KLDivergence()) - 0.7370607230337676) < 1e-6)
        #expect(abs(try feed(JSDivergence()) - 0.16839132139094196) < 1e-6)
        let entropy = Entropy()
        try entropy.update(ClassificationBatch(scores: Self.predicted, labels: Array(repeating: 0, count: 6), count: 6, classes: 4))
        #expect(abs(try entropy.compute() - 0.9598162737776962) < 1e-6)
        let geometric = GeometricAverage()
        for value in [0.5, 2, 8, 3] { try geometric.update(value) }
        #expect(abs(try geometric.compute() - 2.213363839400643) < 1e-12)
        #expect(throws: MetricError.self) { try geometric.update(0) }
        #expect(throws: MetricError.self) { try CosineSimilarity().compute() }
        #expect(throws: ArgumentError.self) { try MeanPairwiseDistance(p: 0) }
    }
}

@Suite("Epoch metric")
struct EpochMetricTests {
    @Test("a user's function sees every rank's values in rank order: a median over three ranks equals one process's")
    func median() throws {
        @Sendable func median(_ values: [Float], _ targets: [Float]) -> Double {
            let errors = zip(values, targets).map { Double(abs($0 - $1)) }.sorted()
            return errors.count % 2 == 1 ? errors[errors.count / 2] : (errors[errors.count / 2 - 1] + errors[errors.count / 2]) / 2
        }
        let predictions: [Float] = [1, 5, 2, 8, 3, 9, 4]
        let targets: [Float] = [0, 0, 0, 0, 0, 0, 0]
        let single = EpochMetric(median)
        try single.update(RegressionBatch(predictions: predictions, targets: targets))
        let split = try SimulatedWorld(size: 3).run { world -> Double in
            let metric = EpochMetric(communicator: world, median)
            let rows = Array(stride(from: world.rank, to: 7, by: 3))
            try metric.update(RegressionBatch(predictions: rows.map { predictions[$0] }, targets: rows.map { targets[$0] }))
            return try metric.compute()
        }
        #expect(try single.compute() == 4 && split == [4, 4, 4])
        let restored = EpochMetric(median)
        try restored.loadStateDict(single.stateDict())
        #expect(try restored.compute() == 4)
        #expect(throws: MetricError.self) { try EpochMetric(median).compute() }
    }
}
