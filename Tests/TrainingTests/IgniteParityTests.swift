import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

/// Differences from Ignite found by translating its tests, each fixed to Ignite's documented behaviour.
@Suite("Ignite parity: metrics, schedules, timers and early stopping")
struct IgniteParityTests {
    @Test("MSE, MAE and R² average over examples (rows), not values: a (100, 5) output is 100 examples")
    func regressionPerExample() throws {
        var generator = SystemRandomNumberGenerator()
        let predictions = (0..<500).map { _ in Float.random(in: -1...1, using: &generator) }
        let targets = (0..<500).map { _ in Float.random(in: -1...1, using: &generator) }
        let mse = MeanSquaredErrorMetric()
        let mae = MeanAbsoluteErrorMetric()
        let r2 = R2Score()
        let batch = RegressionBatch(predictions: Tensor(shape: [100, 5], values: predictions), targets: Tensor(shape: [100, 5], values: targets))
        try mse.update(batch)
        try mae.update(batch)
        try r2.update(batch)
        let squared = zip(predictions, targets).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        let absolute = zip(predictions, targets).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) }
        #expect(abs(try mse.compute() - squared / 100) < 1e-9)
        #expect(abs(try mae.compute() - absolute / 100) < 1e-9)
        let ySum = targets.reduce(0.0) { $0 + Double($1) }
        let ySquared = targets.reduce(0.0) { $0 + Double($1) * Double($1) }
        #expect(abs(try r2.compute() - (1 - squared / (ySquared - ySum * ySum / 100))) < 1e-9)
        #expect(throws: MetricError.self) { try mse.update(RegressionBatch(predictions: [1, 2], targets: [1])) }
    }

    @Test("a metric attached twice (two names) is reset and updated once per event, computed under both names")
    func attachedTwice() throws {
        let engine = Engine<Double, Double> { _, batch in batch }
        let average = Average()
        try average.attach(to: engine, name: "a") { $0 }
        try average.attach(to: engine, name: "b") { $0 }
        var updates = 0
        try engine.on(.iterationCompleted) { _ in updates += 1 }
        try engine.run([1, 2, 3, 6], maxEpochs: 5)
        #expect(engine.state.metrics["a"] == 3 && engine.state.metrics["b"] == 3)
        #expect(average.sums[1] == 4, "updated once per iteration, reset once per epoch")
    }

    @Test("the warm-up of Ignite's docs: 0.0, 0.05, 0.1, 0.098, 0.09604 ... ; at least 2 events")
    func warmup() throws {
        let exponential = LearningRateScheduler.exponential(base: 0.1, gamma: 0.98)
        let schedule = try LearningRateScheduler.warmup(events: 3, start: 0, end: 0.1, then: exponential)
        let values = LearningRateScheduler.simulateValues(count: 6, schedule: schedule)
        for (value, expected) in zip(values, [0.0, 0.05, 0.1, 0.098, 0.09604, 0.0941192]) { #expect(abs(value - expected) < 1e-12, "\(values)") }
        // From 0.01 to a constant 0.1 in 10 events: starts at 0.01, never repeats 0.1 before the schedule.
        let ramp = LearningRateScheduler.simulateValues(count: 11, schedule: try LearningRateScheduler.warmup(events: 10, start: 0.01) { _ in 0.1 })
        #expect(ramp[0] == 0.01 && ramp[8] < 0.1 && ramp[9] == 0.1 && ramp[10] == 0.1)
        #expect(ramp.filter { $0 == 0.1 }.count == 2)
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.warmup(events: 1) { _ in 0.1 } }
        // An end value other than the schedule's first: the warm-up ends on it, then the schedule from its start.
        let other = LearningRateScheduler.simulateValues(
            count: 5, schedule: try LearningRateScheduler.warmup(events: 3, start: 0, end: 0.2) { _ in 0.1 })
        #expect(other == [0, 0.1, 0.2, 0.1, 0.1])
    }

    @Test("empty or decreasing milestones, a zero time limit and a bad concatenation are refused")
    func refusedArguments() {
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.piecewiseLinear([]) }
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.piecewiseLinear([(10, 1), (5, 0)]) }
        #expect(throws: ArgumentError.self) { try LearningRateScheduler.concatenate([{ _ in 1 }], durations: []) }
        for seconds in [-5.0, 0, .nan] { #expect(throws: ArgumentError.self) { try TimeLimit(seconds: seconds) } }
    }

    @Test("Timer() measures the total time; Timer(average: true) divides by the steps, by 1 before any")
    func timer() throws {
        nonisolated(unsafe) var now = 0.0
        let total = Timer(clock: { now })
        let average = Timer(average: true, clock: { now })
        total.reset()
        average.reset()
        now = 4
        #expect(total.value == 4 && average.value == 4)
        average.step()
        average.step()
        #expect(average.value == 2 && total.value == 4)
    }

    @Test("early stopping in min mode and with a relative threshold, as Ignite's, and reset")
    func earlyStopping() throws {
        let trainer = Engine<Int, Int> { _, batch in batch }
        nonisolated(unsafe) var score = 0.0
        let minimum = try EarlyStopping(patience: 2, scoreFunction: { _ in score }, trainer: trainer, mode: .min)
        for value in [1.0, 0.8, 0.85, 0.9] {
            score = value
            minimum(trainer)
        }
        #expect(minimum.counter == 2 && minimum.bestScore == 0.8)
        let relative = try EarlyStopping(
            patience: 5, scoreFunction: { _ in score }, trainer: trainer, minDelta: 0.1,
            thresholdMode: .relative)
        for value in [1.0, 1.05, 1.2] {
            score = value
            relative(trainer)
        }
        // 1.05 is not above 1.0 · 1.1 (counted, best 1.05); 1.2 is above 1.05 · 1.1 (an improvement).
        #expect(relative.counter == 0 && relative.bestScore == 1.2)
        relative.reset()
        #expect(relative.counter == 0 && relative.bestScore == nil)
    }

    @Test("metric sums over ranks are added in a fixed order: 4 simulated ranks give the same bits every time")
    func fixedOrderReduction() throws {
        let values: [[Double]] = [[0.1, 1e16], [0.2, -1e16], [0.3, 1], [1e-17, 3]]
        let results = try (0..<3).map { _ in
            try SimulatedWorld(size: 4).run { communicator -> Double in
                let average = Average(communicator: communicator)
                for value in values[communicator.rank] { average.update(value) }
                return try average.compute()
            }
        }
        #expect(Set(results.flatMap { $0 }).count == 1)
    }
}

@Suite("Ignite parity: an empty confusion matrix")
struct ConfusionMatrixParityTests {
    @Test("an empty confusion matrix is not computable (Ignite's NotComputableError), not a matrix of zeros")
    func emptyMatrix() throws {
        let matrix = try ConfusionMatrix(classes: 3)
        #expect(throws: MetricError.self) { try matrix.computeMatrix() }
        try matrix.update(ClassificationBatch(scores: [0, 0, 1], labels: [-1], count: 1, classes: 3))
        #expect(throws: MetricError.self) { try matrix.computeMatrix() }
    }
}

@Suite("Ignite parity: filtered events")
struct FilteredEventParityTests {
    @Test("a filtered event made with no argument is refused when attached, as Ignite's Events.ITERATION_COMPLETED()")
    func noArgumentFilter() {
        let engine = Engine<Int, Int> { _, batch in batch }
        #expect(throws: EngineError.self) { try engine.on(Event.iterationCompleted()) { _ in } }
    }
}

@Suite("Metrics in checkpoints")
struct MetricCheckpointTests {
    @Test("a metric saved mid-epoch with the engine resumes to the epoch's value of an uninterrupted run (Ignite #966)")
    func resumedMidEpoch() throws {
        // A resumable source (the engine starts it at its iteration), as DataLoader is.
        let data = Countdown(count: 10)
        func make() throws -> (Engine<Double, Double>, Average, RunningAverage) {
            let engine = Engine<Double, Double> { _, batch in batch * batch }
            let average = Average()
            let running = try RunningAverage(alpha: 0.7)
            try average.attach(to: engine, name: "mean") { $0 }
            try engine.on(.iterationCompleted) { engine in try running.update(engine.state.output ?? 0) }
            return (engine, average, running)
        }
        let (whole, wholeAverage, wholeRunning) = try make()
        try whole.run(data, maxEpochs: 2)
        let (first, firstAverage, firstRunning) = try make()
        try first.on(Event.iterationCompleted(once: 14)) { $0.terminate() }
        try first.run(data, maxEpochs: 2)
        let saved = try CheckpointFile.decode(
            CheckpointFile.encode([
                "engine": .dictionary(first.stateDict()), "mean": .dictionary(firstAverage.stateDict()),
                "running": .dictionary(firstRunning.stateDict())
            ]), source: "memory")
        let (resumed, resumedAverage, resumedRunning) = try make()
        try Checkpoint.loadObjects(toLoad: ["engine": resumed, "mean": resumedAverage, "running": resumedRunning], checkpoint: saved)
        try resumed.run(data, maxEpochs: 2)
        #expect(resumed.state.iteration == 20)
        #expect(resumed.state.metrics["mean"] == whole.state.metrics["mean"])
        #expect(resumedRunning.localValue == wholeRunning.localValue)
        #expect(resumedAverage.sums == wholeAverage.sums)
        #expect(throws: StateDictError.self) { try Average().loadStateDict(["sums": .array([.double(1)])]) }
    }
}

/// 1, 2, ..., count, resumable at any position.
struct Countdown: ResumableSequence {
    let count: Int
    func makeIterator() -> IndexingIterator<[Double]> { (1...count).map(Double.init).makeIterator() }
    func makeIterator(startingAfter iteration: Int) -> IndexingIterator<[Double]> {
        Array((1...count).map(Double.init).dropFirst(iteration % count)).makeIterator()
    }
    var batchesPerPass: Int { count }
}

@Suite("Schedulers drive the built-in optimizers directly")
struct OptimizerScheduleTests {
    @Test("SGD and Adam are scheduler targets without an extension of the user's")
    func builtInTargets() throws {
        let model = try Sequential([Linear(inputs: 2, outputs: 1)], inputShape: [2], seed: 0)
        let sgd = SGD(arena: model.arena, learningRate: 0.1)
        let adam = Adam(arena: model.arena)
        for target in [sgd as any LearningRateControlled, adam, OptimizerLearningRate(AdamW(arena: model.arena))] {
            let scheduler = LearningRateScheduler(target: target, schedule: LearningRateScheduler.exponential(base: 1, gamma: 0.5))
            scheduler.step()
            scheduler.step()
            #expect(target.learningRate == 0.5)
        }
    }
}
