import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

/// Random classification data with a reference computed by plain loops.
struct Classified {
    let scores: [Float], labels: [Int32], count: Int, classes: Int

    init(count: Int, classes: Int, seed: UInt64) {
        var random = CounterRandom(seed: seed, stream: 1)
        self.count = count
        self.classes = classes
        labels = (0..<count).map { _ in Int32(random.nextInt(below: classes)) }
        // Scores favour the true class most of the time, so every metric is away from trivial values.
        var scores: [Float] = []
        for row in 0..<count { for c in 0..<classes { scores.append(random.nextUniform() + (c == Int(labels[row]) ? 0.6 : 0)) } }
        self.scores = scores
    }

    func predicted(_ row: Int) -> Int { (0..<classes).max { scores[row * classes + $0] < scores[row * classes + $1] }! }

    func batch<T>(_ rows: Range<Int>, _ body: (ClassificationBatch) throws -> T) rethrows -> T {
        let s = Array(scores[(rows.lowerBound * classes)..<(rows.upperBound * classes)])
        let l = Array(labels[rows])
        return try body(ClassificationBatch(scores: s, labels: l, count: rows.count, classes: classes))
    }

    /// Reference per-class precision, recall and support.
    func perClass() -> [(precision: Double, recall: Double, support: Double)] {
        (0..<classes).map { c in
            let tp = Double((0..<count).filter { predicted($0) == c && Int(labels[$0]) == c }.count)
            let predictedCount = Double((0..<count).filter { predicted($0) == c }.count)
            let support = Double(labels.filter { Int($0) == c }.count)
            return (predictedCount > 0 ? tp / predictedCount : 0, support > 0 ? tp / support : 0, support)
        }
    }
}

@Suite("Metrics: values, averaging, and reduction across ranks")
struct MetricTests {
    let data = Classified(count: 300, classes: 4, seed: 11)

    @Test("accuracy, top-k and the confusion matrix against plain loops, over batches of uneven size")
    func classification() throws {
        let accuracy = Accuracy()
        let top2 = try TopKAccuracy(k: 2)
        let matrix = try ConfusionMatrix(classes: 4)
        for rows in [0..<100, 100..<130, 130..<300] {
            try data.batch(rows) {
                accuracy.update($0)
                try top2.update($0)
                try matrix.update($0)
            }
        }
        let correct = (0..<300).filter { data.predicted($0) == Int(data.labels[$0]) }.count
        #expect(try accuracy.compute() == Double(correct) / 300)
        #expect(try accuracy.compute() == Double(correct) / 300, "a second compute does not double-count")
        let topTwo = (0..<300).filter { row in
            let order = (0..<4).sorted { data.scores[row * 4 + $0] > data.scores[row * 4 + $1] }
            return order.prefix(2).contains(Int(data.labels[row]))
        }.count
        #expect(try top2.compute() == Double(topTwo) / 300)
        let counts = try matrix.computeMatrix()
        #expect(counts.flatMap { $0 }.reduce(0, +) == 300)
        for t in 0..<4 {
            for p in 0..<4 { #expect(counts[t][p] == Double((0..<300).filter { Int(data.labels[$0]) == t && data.predicted($0) == p }.count)) }
        }
        #expect(try matrix.compute() == Double(correct) / 300)
    }

    @Test("precision, recall and F1: per class, macro, micro and weighted")
    func precisionRecall() throws {
        let reference = data.perClass()
        let f1 = reference.map { $0.precision + $0.recall > 0 ? 2 * $0.precision * $0.recall / ($0.precision + $0.recall) : 0 }
        func measure(_ kind: PrecisionRecall.Kind, _ average: ClassAverage) throws -> PrecisionRecall {
            let metric = try PrecisionRecall(kind, classes: 4, average: average)
            try data.batch(0..<300) { try metric.update($0) }
            return metric
        }
        let tolerance = 1e-12
        #expect(zip(try measure(.precision, .macro).computePerClass(), reference.map(\.precision)).allSatisfy { abs($0 - $1) < tolerance })
        #expect(abs(try measure(.precision, .macro).compute() - reference.map(\.precision).reduce(0, +) / 4) < tolerance)
        #expect(abs(try measure(.recall, .weighted).compute() - reference.reduce(0) { $0 + $1.recall * $1.support } / 300) < tolerance)
        #expect(abs(try measure(.f1, .macro).compute() - f1.reduce(0, +) / 4) < tolerance)
        let accuracy = Double((0..<300).filter { data.predicted($0) == Int(data.labels[$0]) }.count) / 300
        #expect(abs(try measure(.precision, .micro).compute() - accuracy) < tolerance, "micro precision = accuracy (single label)")
        #expect(abs(try measure(.f1, .micro).compute() - accuracy) < tolerance)
    }

    @Test("binary and multilabel accuracy: a sample is right only when every label is")
    func multilabel() throws {
        let scores: [Float] = [0.9, 0.2, 0.6, 0.4, 0.1, 0.7]
        let targets: [Int32] = [1, 0, 1, 1, 0, 1]
        let binary = MultilabelAccuracy()
        try binary.update(MultilabelBatch(scores: scores, targets: targets, count: 6))
        #expect(try binary.compute() == 5.0 / 6)
        let multi = MultilabelAccuracy()
        try multi.update(MultilabelBatch(scores: scores, targets: targets, count: 2, labels: 3))
        #expect(try multi.compute() == 0.5)
        let logits = MultilabelAccuracy()
        let raw: [Float] = [2, -1]
        try logits.update(MultilabelBatch(scores: raw, targets: [1, 0], count: 2, logits: true))
        #expect(try logits.compute() == 1)
    }

    @Test("loss is the sample-weighted mean; MSE, MAE, Average; RunningAverage starts at the first value")
    func scalars() throws {
        let loss = Loss()
        loss.update((2.0, 10))
        loss.update((0.5, 30))
        #expect(try loss.compute() == (20 + 15) / 40)
        let predictions: [Float] = [1, 2, 4]
        let targets: [Float] = [1, 0, 1]
        let mse = MeanSquaredErrorMetric()
        let mae = MeanAbsoluteErrorMetric()
        try mse.update(RegressionBatch(predictions: predictions, targets: targets))
        try mae.update(RegressionBatch(predictions: predictions, targets: targets))
        #expect(try mse.compute() == 13.0 / 3 && mae.compute() == 5.0 / 3)
        let average = Average()
        for value in [1.0, 2, 6] { average.update(value) }
        #expect(try average.compute() == 3)
        let running = try RunningAverage(alpha: 0.5)
        try running.update(4)
        #expect(try running.compute() == 4)
        try running.update(2)
        try running.update(1)
        #expect(try running.compute() == 0.5 * (0.5 * 4 + 0.5 * 2) + 0.5 * 1)
        #expect(throws: MetricError.self) { try Accuracy().compute() }
    }

    @Test("4 simulated ranks with uneven shards (one rank empty) give the one-process value exactly")
    func distributedEqualsSingle() throws {
        let single = Accuracy()
        let singleF1 = try PrecisionRecall(.f1, classes: 4, average: .weighted)
        let singleLoss = Loss()
        try data.batch(0..<300) {
            single.update($0)
            try singleF1.update($0)
        }
        singleLoss.update((0.25, 300))
        let shards = [0..<150, 150..<290, 290..<300, 300..<300]
        let data = self.data
        let results = try SimulatedWorld(size: 4).run { communicator -> [Double] in
            let accuracy = Accuracy(communicator: communicator)
            let f1 = try PrecisionRecall(.f1, classes: 4, average: .weighted, communicator: communicator)
            let loss = Loss(communicator: communicator)
            let rows = shards[communicator.rank]
            if !rows.isEmpty {
                try data.batch(rows) {
                    accuracy.update($0)
                    try f1.update($0)
                }
            }
            loss.update((0.25, rows.count))
            return [try accuracy.compute(), try f1.compute(), try loss.compute(), try accuracy.compute()]
        }
        for values in results {
            #expect(values == [try single.compute(), try singleF1.compute(), try singleLoss.compute(), try single.compute()])
        }
    }

    @Test("RunningAverage over 3 ranks is the bits one process gets from the ranks' per-iteration means, on every rank")
    func runningAverageAcrossRanks() throws {
        var values: [[Double]] = []
        for rank in 0..<3 {
            values.append(
                (0..<50).map { step -> Double in
                    let angle = Double(step * 7 + rank * 3)
                    return sin(angle) * 10 + 0.1 * Double(rank)
                })
        }
        let perRank = values
        let single = try RunningAverage(alpha: 0.9)
        for step in 0..<50 { try single.update((values[0][step] + values[1][step] + values[2][step]) / 3) }
        let results = try SimulatedWorld(size: 3).run { world -> Double in
            let running = try RunningAverage(alpha: 0.9, communicator: world)
            for value in perRank[world.rank] { try running.update(value) }
            return try running.compute()
        }
        #expect(results == [try single.compute(), try single.compute(), try single.compute()])
    }

    @Test("padded rows are excluded through `valid`")
    func paddedRows() throws {
        let accuracy = Accuracy()
        let scores: [Float] = [1, 0, 1, 0, 1, 0]
        let labels: [Int32] = [0, 0, 1]
        accuracy.update(ClassificationBatch(scores: scores, labels: labels, count: 3, classes: 2, valid: 2))
        #expect(try accuracy.compute() == 1)
    }
}
