import Cluster
import EngineCore
import Foundation
import Testing
import Training

/// What the earlier metric suites left out: binary scores, per-class IoU and Dice, the batch-wise usage, empty metrics,
/// every summing metric over uneven ranks (one of them empty), and the state of the gathered metrics.
@Suite("Metric coverage: binary, per class, batch-wise, empty, uneven ranks, saved state")
struct MetricCoverageTests {
    /// 12 samples of 3 classes: scores (one-hot-ish) and labels.
    static let labels: [Int32] = [0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 2, 0]
    static let predicted: [Int] = [0, 2, 2, 1, 1, 0, 1, 2, 1, 0, 2, 0]
    static var scores: [Float] {
        predicted.enumerated().flatMap { row, label in (0..<3).map { $0 == label ? Float(2 + row % 3) : Float(row % 2) * 0.5 } }
    }
    static func batch(_ rows: Range<Int>) -> ClassificationBatch {
        ClassificationBatch(
            scores: Array(scores[(rows.lowerBound * 3)..<(rows.upperBound * 3)]), labels: Array(labels[rows]), count: rows.count, classes: 3)
    }

    @Test("binary precision, recall and F1 (one label, probabilities thresholded at 0.5) are the positive class's")
    func binary() throws {
        let probabilities: [Float] = [0.9, 0.2, 0.7, 0.6, 0.1, 0.8, 0.4, 0.55]
        let targets: [Int32] = [1, 0, 0, 1, 0, 1, 1, 0]
        // Predicted positive: rows 0, 2, 3, 5, 7; true positives 0, 3, 5: precision 3/5, recall 3/4.
        let batch = MultilabelBatch(scores: probabilities, targets: targets, count: 8)
        let expected: [(PrecisionRecall.Kind, Double)] = [(.precision, 0.6), (.recall, 0.75), (.f1, 2 * 0.6 * 0.75 / 1.35)]
        for (kind, value) in expected {
            let metric = try MultilabelPrecisionRecall(kind, labels: 1)
            try metric.update(batch)
            #expect(abs(try metric.compute() - value) < 1e-12, "\(kind)")
        }
    }

    @Test("IoU and Dice per class and their means, with and without an ignored class, from the confusion matrix")
    func perClass() throws {
        // Confusion (rows true, columns predicted): class 0: [3,1,0], class 1: [1,2,1], class 2: [0,1,3].
        let iou = try ConfusionMatrixScore(.meanIntersectionOverUnion(ignoring: nil), classes: 3)
        let dice = try ConfusionMatrixScore(.meanDice(ignoring: nil), classes: 3)
        let ignoring = try ConfusionMatrixScore(.meanIntersectionOverUnion(ignoring: 1), classes: 3)
        for metric in [iou, dice, ignoring] { try metric.update(Self.batch(0..<12)) }
        // IoU_c = TP / (TP + FP + FN): 3/5, 2/6, 3/5; Dice_c = 2TP / (2TP + FP + FN): 6/8, 4/8, 6/8.
        let expectedIoU = [3.0 / 5, 2.0 / 6, 3.0 / 5]
        let expectedDice = [6.0 / 8, 4.0 / 8, 6.0 / 8]
        for (value, expected) in zip(try iou.computePerClass(), expectedIoU) { #expect(abs(value - expected) < 1e-12) }
        for (value, expected) in zip(try dice.computePerClass(), expectedDice) { #expect(abs(value - expected) < 1e-12) }
        #expect(abs(try iou.compute() - expectedIoU.reduce(0, +) / 3) < 1e-12)
        #expect(abs(try dice.compute() - expectedDice.reduce(0, +) / 3) < 1e-12)
        #expect(abs(try ignoring.compute() - (expectedIoU[0] + expectedIoU[2]) / 2) < 1e-12)
    }

    @Test("the batch-wise usage computes each iteration's batch alone")
    func batchWise() throws {
        let engine = Engine<ClassificationBatch, ClassificationBatch> { _, batch in batch }
        var values: [Double] = []
        try Accuracy().attach(to: engine, name: "accuracy", usage: .batchWise) { $0 }
        try engine.on(.iterationCompleted) { engine in values.append(engine.state.metrics["accuracy"]!) }
        try engine.run([Self.batch(0..<4), Self.batch(4..<8), Self.batch(8..<12)])
        // Rows 0-3: right at 0, 2 (2 of 4); 4-7: 4, 5, 7 (3 of 4); 8-11: 8, 10, 11 (3 of 4).
        #expect(values == [0.5, 0.75, 0.75])
    }

    @Test("an empty precision, report or top-k metric is not computable (an error, never 0)")
    func empty() throws {
        #expect(throws: MetricError.self) { try PrecisionRecall(.precision, classes: 3).compute() }
        #expect(throws: MetricError.self) { try ClassificationReport(classes: 3).computeReport() }
        #expect(throws: MetricError.self) { try TopKAccuracy(k: 2).compute() }
        #expect(throws: MetricError.self) { try RootMeanSquaredError().compute() }
    }

    /// `make`'s value over all 12 rows in one process, and on 3 ranks holding rows 0..<7, 7..<12 and none.
    func acrossRanks<M: Metric>(
        _ name: String, _ make: @escaping @Sendable (any Communicator) throws -> M, _ feed: @escaping @Sendable (M, Range<Int>) throws -> Void
    )
        throws
    {
        let single = try make(LocalCommunicator())
        try feed(single, 0..<12)
        let expected = try single.compute()
        let shards = [0..<7, 7..<12, 12..<12]
        let values = try SimulatedWorld(size: 3).run { world -> Double in
            let metric = try make(world)
            if !shards[world.rank].isEmpty { try feed(metric, shards[world.rank]) }
            return try metric.compute()
        }
        for value in values { #expect(abs(value - expected) <= 1e-12 * Swift.max(1, abs(expected)), "\(name): \(value) vs \(expected)") }
    }

    @Test("every summing metric over uneven ranks, one of them empty, is the one-process value")
    func unevenRanks() throws {
        let predictions: [Float] = (0..<12).map { Float(sin(Double($0)) * 3) }
        let targets: [Float] = (0..<12).map { Float(cos(Double($0)) * 2 + 0.5) }
        @Sendable func regression(_ rows: Range<Int>) -> RegressionBatch {
            RegressionBatch(predictions: Array(predictions[rows]), targets: Array(targets[rows]))
        }
        @Sendable func positive(_ rows: Range<Int>) -> RegressionBatch {
            RegressionBatch(predictions: rows.map { abs(predictions[$0]) + 0.1 }, targets: rows.map { abs(targets[$0]) + 0.1 })
        }
        try acrossRanks("TopK", { try TopKAccuracy(k: 2, communicator: $0) }) { try $0.update(Self.batch($1)) }
        try acrossRanks("MSE", { MeanSquaredErrorMetric(communicator: $0) }) { try $0.update(regression($1)) }
        try acrossRanks("MAE", { MeanAbsoluteErrorMetric(communicator: $0) }) { try $0.update(regression($1)) }
        try acrossRanks("R2", { R2Score(communicator: $0) }) { try $0.update(regression($1)) }
        try acrossRanks("RMSE", { RootMeanSquaredError(communicator: $0) }) { try $0.update(regression($1)) }
        try acrossRanks("Pearson", { PearsonCorrelation(communicator: $0) }) { try $0.update(regression($1)) }
        try acrossRanks("MeanPairwiseDistance", { try MeanPairwiseDistance(communicator: $0) }) { try $0.update(regression($1)) }
        try acrossRanks("Entropy", { Entropy(communicator: $0) }) { try $0.update(Self.batch($1)) }
        try acrossRanks("GeometricAverage", { GeometricAverage(communicator: $0) }) { metric, rows in
            for row in rows { try metric.update(Double(abs(predictions[row])) + 0.5) }
        }
        try acrossRanks("KLDivergence", { KLDivergence(communicator: $0) }) { try $0.update(positive($1)) }
        try acrossRanks("JSDivergence", { JSDivergence(communicator: $0) }) { try $0.update(positive($1)) }
        try acrossRanks("CosineSimilarity", { CosineSimilarity(communicator: $0) }) { metric, rows in
            // Rows of 2 values: pairs of consecutive samples.
            let even = rows.lowerBound / 2 * 2..<rows.upperBound / 2 * 2
            if !even.isEmpty {
                try metric.update(RegressionBatch(predictions: Array(predictions[even]), targets: Array(targets[even]), examples: even.count / 2))
            }
        }
        try acrossRanks("MultilabelAccuracy", { MultilabelAccuracy(communicator: $0) }) { metric, rows in
            try metric.update(
                MultilabelBatch(scores: rows.map { predictions[$0] > 0 ? 1 : 0 }, targets: rows.map { targets[$0] > 0.5 ? 1 : 0 }, count: rows.count))
        }
        try acrossRanks("ClassificationReport", { try ClassificationReport(classes: 3, communicator: $0) }) { try $0.update(Self.batch($1)) }
        try acrossRanks("MatthewsCorrCoef", { try ConfusionMatrixScore(.matthewsCorrelation, classes: 3, communicator: $0) }) {
            try $0.update(Self.batch($1))
        }
    }

    @Test("Frequency over ranks: the counts add up and the seconds are averaged, so it is the whole job's rate")
    func frequencyAcrossRanks() throws {
        let rates = try SimulatedWorld(size: 3).run { world -> Double in
            // Rank r ran for 2 + r seconds and counted 10 · (r + 1) events (an empty rank counts nothing).
            let start = 100.0
            var now = start
            let frequency = Frequency(communicator: world, clock: { now })
            frequency.reset()
            now = start + Double(2 + world.rank)
            try frequency.update(world.rank == 2 ? 0 : Double(10 * (world.rank + 1)))
            return try frequency.compute()
        }
        // 30 events over a mean of 3 seconds.
        #expect(rates == [10, 10, 10])
    }

    @Test("ROC AUC and the curves save their scores: a restored metric computes the same area and curve")
    func gatheredState() throws {
        let batch = MultilabelBatch(scores: [0.1, 0.8, 0.35, 0.6, 0.9, 0.2], targets: [0, 1, 0, 1, 1, 0], count: 6)
        let auc = RankingScore(.rocAUC)
        try auc.update(batch)
        let restored = RankingScore(.rocAUC)
        try restored.loadStateDict(auc.stateDict())
        #expect(try restored.compute() == auc.compute())
        let curve = CurveMetric(.precisionRecall)
        try curve.update(batch)
        let restoredCurve = CurveMetric(.precisionRecall)
        try restoredCurve.loadStateDict(curve.stateDict())
        #expect(try restoredCurve.computeCurve() == curve.computeCurve())
        #expect(throws: StateDictError.self) {
            try RankingScore(.rocAUC).loadStateDict(["scores": .array([.double(0.5)]), "labels": .array([.double(2)])])
        }
    }
}

@Suite("Ignite's multilabel confusion matrix")
struct MultilabelConfusionMatrixTests {
    @Test("one [[TN, FP], [FN, TP]] per label, as Ignite 0.5.5 computes them, over 2 ranks too")
    func matrices() throws {
        let predictions: [Float] = [1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0]
        let targets: [Int32] = [1, 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0]
        let expected: [[[Double]]] = [[[1, 1], [1, 2]], [[2, 0], [1, 2]], [[2, 1], [0, 2]]]
        let single = try MultilabelConfusionMatrix(labels: 3)
        try single.update(MultilabelBatch(scores: predictions, targets: targets, count: 5, labels: 3))
        #expect(try single.computeMatrices() == expected)
        let ranks = try SimulatedWorld(size: 2).run { world -> [[[Double]]] in
            let metric = try MultilabelConfusionMatrix(labels: 3, communicator: world)
            let rows = world.rank == 0 ? 0..<2 : 2..<5
            try metric.update(
                MultilabelBatch(
                    scores: Array(predictions[(rows.lowerBound * 3)..<(rows.upperBound * 3)]),
                    targets: Array(targets[(rows.lowerBound * 3)..<(rows.upperBound * 3)]), count: rows.count, labels: 3))
            return try metric.computeMatrices()
        }
        #expect(ranks == [expected, expected])
        #expect(throws: MetricError.self) { try MultilabelConfusionMatrix(labels: 3).computeMatrices() }
    }
}
