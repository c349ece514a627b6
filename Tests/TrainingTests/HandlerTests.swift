import EngineCore
import Foundation
import TestSupport
import Testing
import Training

final class Rate: LearningRateControlled {
    var learningRate: Double
    init(_ rate: Double) { learningRate = rate }
}

@Suite("Handlers: early stopping, schedules, guards, timers, logs, progress, report")
struct HandlerTests {
    @Test("early stopping with patience 2 stops at the right epoch (scores worked out by hand)")
    func earlyStopping() throws {
        let scores = [0.5, 0.6, 0.6, 0.59, 0.7, 0.65, 0.66, 0.1]
        let trainer = Engine<Int, Int> { _, b in b }
        let stopper = try EarlyStopping(patience: 2, scoreFunction: { scores[$0.engineState.epoch - 1] }, trainer: trainer)
        try stopper.attach(to: trainer, event: .epochCompleted)
        try trainer.run([1], maxEpochs: 8)
        // epoch 1 best 0.5; 2 improves; 3 no (1); 4 no (2) -> stop at epoch 4
        #expect(trainer.state.epoch == 4)
        let restored = try EarlyStopping(patience: 2, scoreFunction: { _ in 0 }, trainer: trainer)
        try restored.loadStateDict(stopper.stateDict())
        #expect(restored.counter == 2 && restored.bestScore == 0.6)
        // minDelta 0.1, patience 3. Non-cumulative: the best follows 0.58, 0.65, 0.7, so 0.58, 0.65, 0.7 are three
        // misses: stop at epoch 4. Cumulative: 0.65 beats 0.5 + 0.1 (best 0.65), then 0.7, 0.72, 0.74 miss: epoch 6.
        let sequence = [0.5, 0.58, 0.65, 0.7, 0.72, 0.74, 0.76]
        for (cumulative, stop) in [(false, 4), (true, 6)] {
            let delta = Engine<Int, Int> { _, b in b }
            try EarlyStopping(
                patience: 3, scoreFunction: { sequence[$0.engineState.epoch - 1] }, trainer: delta, minDelta: 0.1,
                cumulativeDelta: cumulative
            ).attach(to: delta, event: .epochCompleted)
            try delta.run([1], maxEpochs: 7)
            #expect(delta.state.epoch == stop, "cumulative \(cumulative)")
        }
    }

    @Test("schedules give the documented sequences")
    func schedules() throws {
        func values(_ s: @escaping @Sendable (Int) -> Double, _ n: Int) -> [Double] { LearningRateScheduler.simulateValues(count: n, schedule: s) }
        func close(_ a: [Double], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) < 1e-12 } }
        #expect(close(values(LearningRateScheduler.step(base: 1, stepSize: 2, gamma: 0.5), 5), [1, 1, 0.5, 0.5, 0.25]))
        #expect(close(values(LearningRateScheduler.multiStep(base: 1, milestones: [1, 3], gamma: 0.1), 4), [1, 0.1, 0.1, 0.01]))
        #expect(close(values(LearningRateScheduler.exponential(base: 2, gamma: 0.5), 3), [2, 1, 0.5]))
        #expect(
            close(
                values(LearningRateScheduler.cosine(base: 1, cycle: 4), 5),
                [1, (1 + cos(Double.pi / 4)) / 2, 0.5, (1 + cos(3 * Double.pi / 4)) / 2, 0]))
        // Ignite's create_lr_scheduler_with_warmup: the first event gets the start value, and the warm-up stops one
        // step short of the schedule's own first value, which follows without a repeat.
        #expect(close(values(try LearningRateScheduler.warmup(events: 4, then: { _ in 0.8 }), 6), [0, 0.8 / 3, 1.6 / 3, 0.8, 0.8, 0.8]))
        let piecewise = try LearningRateScheduler.piecewiseLinear([(0, 0), (10, 1), (20, 0.5)])
        #expect(close(values(piecewise, 1) + [piecewise(15)], [0, 0.75]))
        let concat = try LearningRateScheduler.concatenate([{ _ in 1 }, { n in 0.5 / Double(n + 1) }], durations: [2])
        #expect(close(values(concat, 4), [1, 1, 0.5, 0.25]))
    }

    @Test("a scheduler sets then advances on its event, and resumes its sequence from its state")
    func schedulerOnEngine() throws {
        let rate = Rate(0)
        let scheduler = LearningRateScheduler(target: rate, schedule: LearningRateScheduler.step(base: 1, stepSize: 2, gamma: 0.1))
        var seen: [Double] = []
        let engine = Engine<Int, Int> { _, b in
            seen.append(rate.learningRate)
            return b
        }
        try scheduler.attach(to: engine)
        try engine.run([1, 2, 3])
        #expect(zip(seen, [1, 1, 0.1]).allSatisfy { abs($0 - $1) < 1e-12 })
        let resumed = LearningRateScheduler(target: rate, schedule: scheduler.schedule)
        try resumed.loadStateDict(scheduler.stateDict())
        resumed.step()
        #expect(abs(rate.learningRate - 0.1) < 1e-12)
        resumed.step()
        #expect(abs(rate.learningRate - 0.01) < 1e-12)
    }

    @Test("reduce-on-plateau lowers the rate after patience, with cooldown and a floor")
    func plateau() throws {
        let rate = Rate(1)
        let plateau = try ReduceLROnPlateau(target: rate, mode: .min, factor: 0.5, patience: 1, cooldown: 1, minimumRate: 0.3)
        var rates: [Double] = []
        for loss in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95] {
            plateau.step(loss)
            rates.append(rate.learningRate)
        }
        #expect(rates == [1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3])
    }

    @Test("terminate-on-NaN stops at the first NaN output")
    func terminateOnNan() throws {
        let outputs = [1.0, 2, .nan, 3]
        let engine = Engine<Int, Double> { _, b in outputs[b] }
        let guardHandler = TerminateOnNan(outputTransform: { (output: Double) in [output] })
        try guardHandler.attach(to: engine)
        try engine.run([0, 1, 2, 3])
        #expect(guardHandler.stoppedAt == 3 && engine.state.iteration == 3)
    }

    @Test("time limit, timer and profiler with a controlled clock")
    func timing() throws {
        nonisolated(unsafe) var now = 0.0
        let engine = Engine<Int, Int> { _, b in
            now += 1
            return b
        }
        try TimeLimit(seconds: 2.5, clock: { now }).attach(to: engine)
        let timer = Timer(average: true, clock: { now })
        try timer.attach(to: engine, start: .started, resume: .iterationStarted, pause: .iterationCompleted, step: .iterationCompleted)
        let profiler = Profiler(clock: { now })
        try profiler.attach(to: engine)
        try engine.on(.completed, profiler.measured("slow") { _ in now += 5 })
        try engine.run(Array(0..<10))
        #expect(engine.state.iteration == 3)
        #expect(timer.value == 1)
        #expect(profiler.results["handler slow"]?.seconds == 5)
        #expect(profiler.results["event ITERATION_STARTED"]?.count == 3)
        #expect(profiler.summary().contains("handler slow"))
    }

    @Test("the JSON-lines logger writes one parsable object per logged event with the documented keys")
    func jsonLines() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("log")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("run.jsonl").path
        do {
            let engine = Engine<Int, Double> { _, b in Double(b) }
            let logger = try JSONLinesLogger(path: path, worldSize: 4, learningRate: { 0.05 })
            try logger.attach(to: engine, every: 2) { ["loss": $0] }
            try engine.on(.epochCompleted) { $0.state.metrics["test_accuracy"] = 0.9 }
            try engine.run([1, 2, 3, 4], maxEpochs: 1)
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(objects.map { $0["event"] as! String } == ["iteration_completed", "iteration_completed", "epoch_completed"])
        for object in objects {
            for key in ["epoch", "iteration", "elapsed_s", "world_size", "lr", "metrics"] { #expect(object[key] != nil, "\(key)") }
        }
        #expect((objects[1]["metrics"] as! [String: Double])["loss"] == 4)
        #expect(objects[2]["world_size"] as! Int == 4)
        let quiet = directory.appendingPathComponent("quiet.jsonl").path
        _ = try JSONLinesLogger(path: quiet, worldSize: 2, isWriter: false)
        #expect(!FileManager.default.fileExists(atPath: quiet))
    }

    @Test("the progress bar prints plain periodic lines off a terminal and redraws in place on one")
    func progress() throws {
        for terminal in [false, true] {
            var written = ""
            let engine = Engine<Int, Double> { _, b in Double(b) }
            try ProgressBar(isTerminal: terminal, plainEvery: 2, write: { written += $0 }).attach(to: engine) { $0 }
            try engine.run([1, 2, 3, 4], maxEpochs: 2)
            if terminal {
                #expect(written.filter { $0 == "\r" }.count == 10)
                #expect(written.contains("|##########----------|"))
            } else {
                #expect(!written.contains("\r"))
                #expect(written.split(separator: "\n").count == 6)
            }
            #expect(written.contains("epoch 2/2 [4/4]") && written.contains("loss") && written.contains("it/s"))
        }
    }
}
