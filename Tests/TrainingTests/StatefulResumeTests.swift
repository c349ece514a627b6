import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

/// Ignite's #966: a run resumed from a checkpoint continues every stateful handler (early stopping, schedules, the
/// plateau scheduler, the parameter average, running metrics, timers) exactly, decisions included.
@Suite("Every stateful handler resumes exactly through Checkpoint")
struct StatefulResumeTests {
    /// A learning rate no optimizer owns, for the plateau scheduler.
    final class Rate: LearningRateControlled {
        var learningRate = 1.0
    }

    /// One training setup: an engine stepping SGD on gradients fixed by the batch, and every stateful handler.
    final class Rig {
        let engine: Engine<Double, Double>
        let objects: [String: any Stateful]
        let arena: ParameterArena
        let average: ExponentialMovingAverage
        let plateauRate = Rate()
        /// What the handlers did at each iteration: learning rate, momentum, plateau rate, running loss.
        var trace: [Int: [Double]] = [:]

        init() throws {
            let model = try Sequential([Linear(inputs: 3, outputs: 2)], inputShape: [3], seed: 7)
            let arena = model.arena
            let optimizer = SGD(arena: arena, learningRate: 0.1, momentum: 0.5)
            let engine = Engine<Double, Double> { engine, x in
                for entry in arena.entries {
                    let values = (0..<entry.count).map { Float(sin(x * Double($0 + 1) + Double(engine.state.epoch))) }
                    try arena.setGradient(named: entry.name, to: Tensor(shape: entry.shape, values: values))
                }
                optimizer.step()
                return 1 / x + 0.01 * Double(engine.state.iteration)
            }
            // Epoch scores that improve for three epochs, then stay: patience 3 ends the run after epoch 6.
            let scores = [0.0, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3]
            let stopping = try EarlyStopping(patience: 3, scoreFunction: { scores[$0.engineState.epoch] }, trainer: engine)
            try stopping.attach(to: engine, event: .epochCompleted)
            let schedule = try LearningRateScheduler.warmup(
                events: 5, start: 0.01, then: LearningRateScheduler.cosine(base: 0.1, minimum: 0.001, cycle: 30))
            let scheduler = LearningRateScheduler(target: optimizer, schedule: schedule)
            try scheduler.attach(to: engine)
            let momentum = try ParameterScheduler(
                optimizer: optimizer, parameter: .momentum,
                schedule: LearningRateScheduler.cyclical(.linear, start: 0.9, end: 0.5, cycleSize: 8, cycleMultiplier: 2))
            try momentum.attach(to: engine)
            let losses = [9.0, 5, 4, 4, 4, 3, 3, 3, 3, 3, 3]
            let plateau = try ReduceLROnPlateau(target: plateauRate, mode: .min, factor: 0.5, patience: 1)
            try plateau.attach(to: engine) { losses[$0.engineState.epoch] }
            average = try ExponentialMovingAverage(arena: arena, momentum: 0.1, warmupMomentum: 0.5, warmupUpdates: 4)
            try average.attach(to: engine)
            let running = Average()
            try running.attach(to: engine, name: "running_loss", usage: .runningBatchWise) { $0 }
            self.engine = engine
            self.arena = arena
            objects = [
                "trainer": engine, "model": ModelState(model), "optimizer": OptimizerState(optimizer),
                "early_stopping": stopping, "scheduler": scheduler, "momentum": momentum, "plateau": plateau,
                "ema": average, "running_loss": running
            ]
            try engine.on(.iterationCompleted) { [unowned self] engine in
                trace[engine.state.iteration] = [
                    Double(optimizer.learningRate), Double(optimizer.momentum), plateauRate.learningRate,
                    engine.state.metrics["running_loss"] ?? .nan
                ]
            }
        }

        /// The final parameters and their average.
        var finalState: [[Float]] { [arena.parameterValues] + average.averagedParameters.map(\.values) }
    }

    @Test("stopped mid-epoch after an evaluation without improvement, resumed from the file: the same decisions and bits")
    func resumedEqualsUninterrupted() throws {
        let data = Countdown(count: 10)
        let whole = try Rig()
        try whole.engine.run(data, maxEpochs: 10)
        // Early stopping ended the run after epoch 6 (scores stop improving after epoch 3).
        #expect(whole.engine.state.epoch == 6 && whole.engine.state.iteration == 60)

        let directory = try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask, appropriateFor: URL(fileURLWithPath: NSTemporaryDirectory()), create: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try Rig()
        let checkpoint = try Checkpoint(toSave: first.objects, saver: try DiskSaver(directory: directory))
        var saved: URL?
        // Iteration 47: mid-epoch 5, one evaluation without improvement counted, the plateau rate halved once.
        try first.engine.on(.iterationCompleted(once: 47)) { engine in
            saved = try checkpoint.save(iteration: engine.state.iteration, epoch: engine.state.epoch)
            engine.terminate()
        }
        try first.engine.run(data, maxEpochs: 10)
        let file = try #require(saved)

        let resumed = try Rig()
        try Checkpoint.loadObjects(toLoad: resumed.objects, checkpoint: try CheckpointFile.read(file))
        try resumed.engine.run(data, maxEpochs: 10)
        #expect(resumed.engine.state.epoch == 6 && resumed.engine.state.iteration == 60)
        for iteration in 48...60 {
            let expected = try #require(whole.trace[iteration])
            #expect(resumed.trace[iteration] == expected, "iteration \(iteration)")
        }
        #expect(resumed.finalState == whole.finalState)
        #expect(resumed.plateauRate.learningRate == whole.plateauRate.learningRate && whole.plateauRate.learningRate < 1)
    }

    @Test("timers, the profiler and Frequency go on from their saved totals")
    func timersResume() throws {
        var now = 10.0
        let timer = Timer(clock: { now })
        let frequency = Frequency(clock: { now })
        timer.reset()
        frequency.reset()
        now = 14
        timer.step()
        try frequency.update(20)
        let (timerState, frequencyState) = (timer.stateDict(), frequency.stateDict())
        now = 100
        let resumedTimer = Timer(average: true, clock: { now })
        let resumedFrequency = Frequency(clock: { now })
        try resumedTimer.loadStateDict(timerState)
        try resumedFrequency.loadStateDict(frequencyState)
        now = 106
        resumedTimer.step()
        try resumedFrequency.update(10)
        // 4 seconds before the checkpoint and 6 after it, over 2 steps; 30 events over 10 seconds.
        #expect(resumedTimer.value == 5)
        #expect(try resumedFrequency.compute() == 3)
        #expect(throws: StateDictError.self) { try Timer().loadStateDict(["total": .double(-1), "steps": .int(0), "running": .bool(false)]) }

        let engine = Engine<Int, Int> { _, batch in batch }
        let profiler = Profiler(clock: { now })
        try profiler.attach(to: engine)
        try engine.run(0..<5, maxEpochs: 1)
        let restored = Profiler()
        try restored.loadStateDict(profiler.stateDict())
        #expect(restored.results.mapValues(\.count) == profiler.results.mapValues(\.count))
        #expect(restored.results["event ITERATION_COMPLETED"]?.count == 5)
    }
}
