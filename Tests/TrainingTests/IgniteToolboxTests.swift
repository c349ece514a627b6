import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

/// Ignite's curves, report, multilabel scores, frequency, output store and EMA, from their documented behaviour.
@Suite("Ignite's toolbox: curves, reports, multilabel scores, EMA")
struct IgniteToolboxTests {
    static let curveBatch = MultilabelBatch(scores: [0.1, 0.4, 0.35, 0.8], targets: [0, 0, 1, 1], count: 4)

    @Test("RocCurve is scikit-learn's roc_curve (its documented example), AUC as its value")
    func rocCurve() throws {
        let metric = CurveMetric(.roc)
        try metric.update(Self.curveBatch)
        let curve = try metric.computeCurve()
        #expect(curve.x == [0, 0, 0.5, 0.5, 1])
        #expect(curve.y == [0, 0.5, 0.5, 1, 1])
        let thresholds: [Double] = [.infinity] + [0.8, 0.4, 0.35, 0.1].map { Double(Float($0)) }
        #expect(curve.thresholds == thresholds)
        #expect(try metric.compute() == 0.75)
    }

    @Test("PrecisionRecallCurve is scikit-learn's precision_recall_curve (its documented example)")
    func precisionRecallCurve() throws {
        let metric = CurveMetric(.precisionRecall)
        try metric.update(Self.curveBatch)
        let curve = try metric.computeCurve()
        let precision = curve.y
        let recall = curve.x
        #expect(zip(precision, [0.5, 2.0 / 3, 0.5, 1, 1]).allSatisfy { abs($0 - $1) < 1e-12 }, "\(precision)")
        #expect(recall == [1, 1, 0.5, 0.5, 0])
        #expect(curve.thresholds == [0.1, 0.35, 0.4, 0.8].map { Double(Float($0)) })
        let empty = CurveMetric(.roc)
        try empty.update(MultilabelBatch(scores: [0.3, 0.6], targets: [1, 1], count: 2))
        #expect(throws: MetricError.self) { try empty.computeCurve() }
    }

    @Test("the curve gathers every rank's scores: two uneven ranks give one process's curve")
    func curveAcrossRanks() throws {
        let scores: [Float] = [0.1, 0.4, 0.35, 0.8, 0.55, 0.2, 0.9]
        let targets: [Int32] = [0, 0, 1, 1, 1, 0, 1]
        let whole = CurveMetric(.roc)
        try whole.update(MultilabelBatch(scores: scores, targets: targets, count: 7))
        let expected = try whole.computeCurve()
        let curves = try SimulatedWorld(size: 2).run { world -> ScoreCurve in
            let metric = CurveMetric(.roc, communicator: world)
            let rows = world.rank == 0 ? 0..<5 : 5..<7
            try metric.update(MultilabelBatch(scores: Array(scores[rows]), targets: Array(targets[rows]), count: rows.count))
            return try metric.computeCurve()
        }
        #expect(curves.allSatisfy { $0 == expected })
    }

    @Test("ClassificationReport: per-class precision, recall and F1 and their macro means, in Ignite's JSON")
    func classificationReport() throws {
        // Predictions (argmax) 0, 1, 1, 2, 0 for targets 0, 1, 2, 2, 1.
        let scores: [Float] = [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]
        let report = try ClassificationReport(classes: 3, labels: ["cat", "dog", "bird"])
        try report.update(ClassificationBatch(scores: scores, labels: [0, 1, 2, 2, 1], count: 5, classes: 3))
        let table = try report.computeReport()
        #expect(table.classes.map(\.name) == ["cat", "dog", "bird"])
        #expect(table.classes.map(\.row.precision) == [0.5, 0.5, 1])
        #expect(table.classes.map(\.row.recall) == [1, 0.5, 0.5])
        let f1 = [2.0 / 3, 0.5, 2.0 / 3]
        #expect(zip(table.classes.map(\.row.fScore), f1).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(abs(table.macro.fScore - f1.reduce(0, +) / 3) < 1e-12)
        #expect(try report.compute() == table.macro.fScore)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(table.json.utf8)) as? [String: [String: Double]])
        #expect(Set(json.keys) == ["cat", "dog", "bird", "macro avg"])
        #expect(json["macro avg"]?["f1-score"] == table.macro.fScore && json["dog"]?["recall"] == 0.5)
        let half = try ClassificationReport(classes: 3, beta: 0.5)
        try half.update(ClassificationBatch(scores: scores, labels: [0, 1, 2, 2, 1], count: 5, classes: 3))
        #expect(try half.computeReport().json.contains("\"f0.5-score\""))
        #expect(throws: MetricError.self) { try ClassificationReport(classes: 3).computeReport() }
        #expect(throws: ArgumentError.self) { try ClassificationReport(classes: 3, labels: ["a"]) }
    }

    @Test("multilabel precision, recall and F1: per label, macro, micro, weighted and samples averages")
    func multilabel() throws {
        // Two samples of three labels: predicted [1,0,1] for targets [1,1,0]; predicted [0,1,1] for targets [0,1,1].
        let batch = MultilabelBatch(scores: [0.9, 0.1, 0.8, 0.2, 0.7, 0.6], targets: [1, 1, 0, 0, 1, 1], count: 2, labels: 3)
        func value(_ kind: PrecisionRecall.Kind, _ average: MultilabelAverage) throws -> Double {
            let metric = try MultilabelPrecisionRecall(kind, labels: 3, average: average)
            try metric.update(batch)
            return try metric.compute()
        }
        // Per label: tp [1,1,1], fp [0,0,1], fn [0,1,0].
        let perLabel = try MultilabelPrecisionRecall(.precision, labels: 3)
        try perLabel.update(batch)
        #expect(try perLabel.computePerLabel() == [1, 1, 0.5])
        #expect(try value(.precision, .macro) == 2.5 / 3)
        #expect(try value(.recall, .macro) == 2.5 / 3)
        #expect(try value(.precision, .micro) == 0.75 && value(.recall, .micro) == 0.75)
        let weighted: Double = (1 + 0.5 * 2 + 1) / 4
        #expect(try value(.recall, .weighted) == weighted)
        #expect(try value(.precision, .samples) == (0.5 + 1) / 2)
        #expect(try abs(value(.f1, .samples) - (0.5 + 1) / 2) < 1e-12)
        #expect(throws: MetricError.self) { try MultilabelPrecisionRecall(.recall, labels: 3).compute() }
        #expect(throws: MetricError.self) {
            try MultilabelPrecisionRecall(.recall, labels: 3).update(MultilabelBatch(scores: [0.1, 0.2], targets: [0, 1], count: 1, labels: 2))
        }
        // Uneven ranks (one of them empty) add up to one process's value.
        let values = try SimulatedWorld(size: 3).run { world -> Double in
            let metric = try MultilabelPrecisionRecall(.f1, labels: 3, average: .macro, communicator: world)
            if world.rank == 0 { try metric.update(batch) }
            return try metric.compute()
        }
        #expect(try values.allSatisfy { $0 == (try value(.f1, .macro)) })
    }

    @Test("Frequency: the count over the time since the reset, the ranks' counts added and their times averaged")
    func frequency() throws {
        final class Clock: @unchecked Sendable { var now = 10.0 }
        let clock = Clock()
        let metric = Frequency(clock: { clock.now })
        clock.now = 12
        try metric.update(100)
        clock.now = 14
        try metric.update(300)
        #expect(try metric.compute() == 100)
        #expect(throws: MetricError.self) { try metric.update(-1) }
        metric.reset()
        #expect(throws: MetricError.self) { try metric.compute() }
    }

    @Test("EpochOutputStore keeps an epoch's outputs, cleared at the next epoch, and gathers every rank's")
    func outputStore() throws {
        let engine = Engine<Int, Int> { _, batch in batch * 10 }
        let store = EpochOutputStore { (output: Int) in output + 1 }
        try store.attach(to: engine)
        var seen: [[Int]] = []
        try engine.on(.epochCompleted) { _ in seen.append(store.values) }
        try engine.run([1, 2, 3], maxEpochs: 2)
        #expect(seen == [[11, 21, 31], [11, 21, 31]])
        let gathered = try SimulatedWorld(size: 2).run { world -> [Int] in
            let store = EpochOutputStore { (output: Int) in output }
            let engine = Engine<Int, Int> { _, batch in batch + 100 * world.rank }
            try store.attach(to: engine)
            try engine.run(Array(0..<(world.rank + 1)), maxEpochs: 1)
            return try store.gathered(over: world)
        }
        #expect(gathered[0] == [0, 100, 101] && gathered[1] == gathered[0])
    }

    @Test("the EMA follows Ignite's formula and warm-up, evaluates with the averaged weights and resumes exactly")
    func exponentialMovingAverage() throws {
        let arena = ParameterArena(layout: [("w", [2])])
        try arena.setParameter(named: "w", to: Tensor(shape: [2], values: [0, 0]))
        let ema = try ExponentialMovingAverage(arena: arena, momentum: 0.5, warmupMomentum: 0.1, warmupUpdates: 3)
        #expect([1, 2, 3, 4].map { ema.momentum(atUpdate: $0) } == [0.1, 0.30000000000000004, 0.5, 0.5])
        try arena.setParameter(named: "w", to: Tensor(shape: [2], values: [10, 20]))
        let engine = Engine<Int, Int> { _, batch in batch }
        try ema.attach(to: engine)
        try engine.run([1], maxEpochs: 1)
        #expect(engine.state[.emaMomentum] == 0.1)
        #expect(ema.averagedParameters[0].values == [1, 2])
        let inside = ema.withAveragedParameters { arena.parameterValues }
        #expect(inside == [1, 2] && arena.parameterValues == [10, 20], "the online weights come back")
        let copy = try ExponentialMovingAverage(arena: arena, momentum: 0.5, warmupMomentum: 0.1, warmupUpdates: 3)
        try copy.loadStateDict(ema.stateDict())
        #expect(copy.update() == ema.update())
        #expect(copy.averagedParameters[0].values == ema.averagedParameters[0].values)
        #expect(throws: ArgumentError.self) { try ExponentialMovingAverage(arena: arena, momentum: 1.5) }
        #expect(throws: StateDictError.self) { try copy.loadStateDict(["updates": .int(1)]) }
    }
}

@Suite("MetricGroup")
struct MetricGroupTests {
    @Test("a group attaches each metric under its name, computes them together and saves them together")
    func group() throws {
        let group = try MetricGroup<ClassificationBatch>(["accuracy": Accuracy(), "precision": try PrecisionRecall(.precision, classes: 2)])
        let engine = Engine<ClassificationBatch, ClassificationBatch> { _, batch in batch }
        try group.attach(to: engine) { $0 }
        let batch = ClassificationBatch(scores: [1, 0, 0, 1, 1, 0], labels: [0, 1, 1], count: 3, classes: 2)
        try engine.run([batch], maxEpochs: 1)
        #expect(engine.state.metrics["accuracy"] == 2.0 / 3)
        #expect(engine.state.metrics["precision"] == 0.75)
        let copy = try MetricGroup<ClassificationBatch>(["accuracy": Accuracy(), "precision": try PrecisionRecall(.precision, classes: 2)])
        try copy.loadStateDict(group.stateDict())
        #expect(try copy.compute() == group.compute())
        #expect(throws: ArgumentError.self) { try MetricGroup<ClassificationBatch>(["a": Accuracy(), "a": Accuracy()]) }
    }
}

@Suite("Parameter schedulers")
struct ParameterSchedulerTests {
    /// `simulate_values` of Ignite 0.5.5's CosineAnnealingScheduler and LinearCyclicalScheduler for the same arguments.
    static let cases: [(CycleShape, Double, Double, Int, Double, Double, Double, Int, [Double])] = [
        (
            .cosine, 1, 0, 4, 1, 1, 1, 0,
            [
                1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 1.0, 0.8535533905932737, 0.5,
                0.14644660940672627, 1.0, 0.8535533905932737
            ]
        ),
        (
            .cosine, 0.5, 0.1, 3, 2, 0.5, 0.5, 0,
            [
                0.5, 0.4, 0.2, 0.25, 0.23660254037844386, 0.2, 0.15000000000000002, 0.1,
                0.0633974596215561, 0.125, 0.12329629131445341, 0.11830127018922193,
                0.11035533905932737, 0.1, 0.08794095225512603, 0.07500000000000001
            ]
        ),
        (.linear, 0, 1, 4, 1, 1, 1, 0, [0.0, 0.5, 1.0, 0.5, 0.0, 0.5, 1.0, 0.5, 0.0]),
        (
            .cosine, 1, 0, 4, 1, 0.5, 1, 2,
            [
                1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 0.0, 0.25, 0.5, 0.42677669529663687,
                0.25, 0.07322330470336313, 0.0, 0.125, 0.25, 0.21338834764831843
            ]
        ),
        (.linearMonotonic, 0, 1, 4, 1, 1, 1, 2, [0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.0, 0.25])
    ]

    @Test("cyclical schedules (cosine annealing with warm restarts, linear cycles, warm-ups) give Ignite's values")
    func cyclicalMatchesIgnite() throws {
        for (shape, start, end, size, cycleMultiplier, startMultiplier, endMultiplier, warmup, expected) in Self.cases {
            let schedule = try LearningRateScheduler.cyclical(
                shape, start: start, end: end, cycleSize: size, cycleMultiplier: cycleMultiplier,
                startMultiplier: startMultiplier, endMultiplier: endMultiplier, warmup: warmup)
            let values = (0..<expected.count).map(schedule)
            #expect(zip(values, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(shape) \(values) vs \(expected)")
        }
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.cyclical(.cosine, start: 1, end: 0, cycleSize: 1) }
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.cyclical(.linear, start: 1, end: 0, cycleSize: 4, warmup: 2) }
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.cyclical(.linearMonotonic, start: 1, end: 0, cycleSize: 4) }
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.cyclical(.cosine, start: 1, end: 0, cycleSize: 4, cycleMultiplier: 0.5) }
    }

    @Test("a parameter scheduler sets momentum, weight decay or Adam's betas at each event, resumes exactly, and refuses a value the optimizer lacks")
    func anyOptimizerValue() throws {
        let arena = ParameterArena(layout: [("w", [3])])
        let sgd = SGD(arena: arena, learningRate: 0.1, momentum: 0.9)
        let scheduler = try ParameterScheduler(
            optimizer: sgd, parameter: .momentum,
            schedule: try LearningRateScheduler.cyclical(.linear, start: 0.95, end: 0.85, cycleSize: 4))
        #expect(scheduler.simulateValues(count: 5).map { ($0 * 1000).rounded() / 1000 } == [0.95, 0.9, 0.85, 0.9, 0.95])
        let engine = Engine<Int, Int> { _, batch in batch }
        var seen: [Float] = []
        try scheduler.attach(to: engine)
        try engine.on(.iterationCompleted) { _ in seen.append(sgd.momentum) }
        try engine.run([1, 2, 3], maxEpochs: 1)
        #expect(seen == [0.95, 0.9, 0.85].map { Float($0) })
        let resumed = try ParameterScheduler(optimizer: sgd, parameter: .momentum, schedule: scheduler.schedule)
        try resumed.loadStateDict(scheduler.stateDict())
        resumed.step()
        #expect(sgd.momentum == Float(0.9))
        let decay = try ParameterScheduler(optimizer: sgd, parameter: .weightDecay, schedule: { Double($0) * 1e-4 })
        decay.step()
        decay.step()
        #expect(sgd.weightDecay == Float(1e-4))
        let adam = Adam(arena: arena)
        let beta = try ParameterScheduler(optimizer: adam, parameter: .beta1, schedule: { _ in 0.8 })
        beta.step()
        #expect(adam.beta1 == 0.8)
        #expect(throws: ArgumentError.self) { try ParameterScheduler(optimizer: sgd, parameter: .beta2, schedule: { _ in 0.9 }) }
        #expect(throws: StateDictError.self) { try decay.loadStateDict(scheduler.stateDict()) }
    }
}

@Suite("The learning-rate finder")
struct LearningRateFinderTests {
    @Test("the suggestion is Ignite's: the steepest descent before the minimum (Ignite's run, same losses)")
    func suggestion() throws {
        let rates = [
            0.002154434690031884, 0.004641588833612778, 0.009999999999999998, 0.021544346900318832, 0.0464158883361278,
            0.09999999999999998, 0.2154434690031884, 0.46415888336127775, 1.0, 2.1544346900318847
        ]
        let losses = [
            5.0, 4.95, 4.8525, 4.734875, 4.618131249999999, 4.517224687499999, 4.441363453124999, 5.7192952804687485,
            7.433330516445311, 9.561663990623046
        ]
        #expect(try LearningRateFinder.Result(learningRates: rates, losses: losses, diverged: false).suggestion() == 0.021544346900318832)
        #expect(throws: LearningRateFinderError.noDescent) {
            try LearningRateFinder.Result(learningRates: [1, 2, 3], losses: [1, 2, 3], diverged: false).suggestion()
        }
    }

    @Test("a search raises the rate exponentially, stops when the loss diverges, and leaves the run exactly as it was")
    func searchRestoresEverything() throws {
        func setup() throws -> (Sequential, SGD, Engine<SupervisedBatch, SupervisedOutput>) {
            let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
            let optimizer = SGD(arena: model.arena, learningRate: 1e-3, momentum: 0.9)
            return (model, optimizer, makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy()))
        }
        let (model, optimizer, trainer) = try setup()
        let finder = try LearningRateFinder(end: 1e4, iterations: 30)
        let result = try finder.run(
            trainer: trainer, data: try SupervisedTrainerTests.loader(480, batch: 4), optimizer: optimizer,
            restoring: [ModelState(model)]
        ) { Double($0.loss) }
        #expect(result.learningRates.first == finder.learningRate(iteration: 1, start: 1e-3))
        #expect(abs(result.learningRates[1] / result.learningRates[0] - pow(1e7, 1.0 / 30)) < 1e-9)
        #expect(result.diverged && result.losses.count < 30, "a rate of 10^4 diverges: \(result.losses.count) iterations")
        #expect(optimizer.learningRate == 1e-3 && trainer.state.iteration == 0)
        // Training after the search is the same as training without it.
        try trainer.run(try SupervisedTrainerTests.loader(48, batch: 4), maxEpochs: 2)
        let (untouched, _, plainTrainer) = try setup()
        try plainTrainer.run(try SupervisedTrainerTests.loader(48, batch: 4), maxEpochs: 2)
        #expect(model.arena.parameterValues == untouched.arena.parameterValues)
        #expect(throws: ArgumentError.self) { try LearningRateFinder(iterations: 1) }
        #expect(throws: ArgumentError.self) { try LearningRateFinder(divergence: 1) }
    }
}

@Suite("Metric usages")
struct MetricUsageTests {
    /// The mean of the batch values 1, 2, ... over 2 epochs of 3 iterations, read at each event.
    static func values(_ usage: MetricUsage, at event: Event) throws -> [Double] {
        let engine = Engine<Double, Double> { _, batch in batch }
        let metric = Average()
        try metric.attach(to: engine, name: "mean", usage: usage) { $0 }
        var seen: [Double] = []
        try engine.on(event) { engine in seen.append(engine.state.metrics["mean"] ?? .nan) }
        var next = 0.0
        try engine.run(
            AnySequence {
                AnyIterator {
                    next += 1
                    return next
                }
            }, maxEpochs: 2, epochLength: 3)
        return seen
    }

    @Test("Ignite's running, single-epoch running and batch-filtered usages")
    func usages() throws {
        #expect(try Self.values(.epochWise, at: .epochCompleted) == [2, 5])
        #expect(try Self.values(.runningEpochWise, at: .epochCompleted) == [2, 3.5])
        #expect(try Self.values(.runningBatchWise, at: .iterationCompleted) == [1, 1.5, 2, 2.5, 3, 3.5])
        #expect(try Self.values(.singleEpochRunningBatchWise, at: .iterationCompleted) == [1, 1.5, 2, 4, 4.5, 5])
        #expect(try Self.values(.batchFiltered(every: 2), at: .epochCompleted) == [2, 5], "iterations 2, and 4 and 6")
        #expect(throws: ArgumentError.self) { try Self.values(.batchFiltered(every: 0), at: .epochCompleted) }
    }

    @Test("a running value resumed from a checkpoint continues from the restored sums")
    func runningResume() throws {
        func engine(_ metric: Average) throws -> Engine<Double, Double> {
            let engine = Engine<Double, Double> { _, batch in batch }
            try metric.attach(to: engine, name: "mean", usage: .runningEpochWise) { $0 }
            return engine
        }
        let whole = Average()
        let wholeEngine = try engine(whole)
        try wholeEngine.run([1, 2, 3], maxEpochs: 2)
        let first = Average()
        let firstEngine = try engine(first)
        try firstEngine.run([1, 2, 3], maxEpochs: 1)
        let resumed = Average()
        let resumedEngine = try engine(resumed)
        try resumed.loadStateDict(first.stateDict())
        try resumedEngine.loadStateDict(firstEngine.stateDict())
        try resumedEngine.run([1, 2, 3], maxEpochs: 2)
        #expect(resumedEngine.state.metrics["mean"] == wholeEngine.state.metrics["mean"])
    }
}
