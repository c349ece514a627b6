import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

/// Ignite's handler objects in Swift: a checkpoint attached as it is, `ModelCheckpoint`, `global_step_from_engine`,
/// `VariableAccumulation` and `HandlersTimeProfiler`.
@Suite("Handler objects: checkpoint as a handler, ModelCheckpoint, global step, VariableAccumulation, handler timing")
struct HandlerObjectTests {
    func temporaryDirectory() throws -> URL {
        try FileManager.default.url(
            for: .itemReplacementDirectory, in: .userDomainMask, appropriateFor: URL(fileURLWithPath: NSTemporaryDirectory()), create: true)
    }

    @Test(
        "trainer.addEventHandler(.epochCompleted, checkpoint) saves and fires .savedCheckpoint; the evaluator's checkpoint names the trainer's epoch")
    func checkpointAsHandler() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try Sequential([Linear(inputs: 2, outputs: 1)], inputShape: [2], seed: 0)
        let trainer = Engine<Int, Int> { _, batch in batch }
        let checkpoint = try Checkpoint(toSave: ["model": ModelState(model)], directory: directory.appendingPathComponent("train"), numberSaved: 2)
        try trainer.addEventHandler(.epochCompleted, checkpoint)
        var saved = 0
        try trainer.on(.savedCheckpoint) { _ in saved += 1 }
        // ModelCheckpoint on an evaluator, named by the trainer's epoch (global_step_from_engine).
        let evaluator = Engine<Int, Int> { _, batch in batch }
        let best = try Checkpoint(
            toSave: ["model": ModelState(model)], directory: directory.appendingPathComponent("best"), filenamePrefix: "best",
            globalStepTransform: Checkpoint.globalStep(from: trainer))
        try evaluator.addEventHandler(.completed, best)
        try trainer.on(.epochCompleted) { _ in try evaluator.run([1, 2]) }
        try trainer.run([1, 2, 3], maxEpochs: 3)
        #expect(saved == 3)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("train").path).sorted()
        #expect(files == ["model_6.safetensors", "model_9.safetensors"], "one object: named after it, as Ignite \(files)")
        let bestFiles = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("best").path)
        #expect(bestFiles == ["best_model_3.safetensors"], "\(bestFiles)")
        #expect(throws: (any Error).self) {
            try Checkpoint(toSave: ["model": ModelState(model)], directory: directory.appendingPathComponent("train"))
        }
    }

    @Test("VariableAccumulation combines with the user's operation from its initial value, counting updates, over ranks too")
    func variableAccumulation() throws {
        let squares = VariableAccumulation { $0 + $1 * $1 }
        for value in [1.0, 2, 3] { squares.update(value) }
        #expect(try squares.computeWithCount() == (14, 3))
        squares.reset()
        #expect(throws: MetricError.self) { try squares.compute() }
        let ranks = try SimulatedWorld(size: 3).run { world -> Double in
            let metric = VariableAccumulation(communicator: world) { $0 + $1 * $1 }
            if world.rank < 2 { metric.update(Double(world.rank + 1)) }
            return try metric.compute()
        }
        #expect(ranks == [5, 5, 5])
    }

    @Test("the profiler times each handler already attached, per event and position (HandlersTimeProfiler)")
    func handlerTiming() throws {
        var now = 0.0
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.on(.iterationCompleted) { _ in now += 2 }
        try engine.on(.iterationCompleted(every: 2)) { _ in now += 5 }
        try engine.on(.epochCompleted) { _ in now += 1 }
        let profiler = Profiler(clock: { now })
        profiler.attachToHandlers(of: engine)
        try engine.run([1, 2, 3, 4], maxEpochs: 1)
        let results = profiler.results
        #expect(results["handler ITERATION_COMPLETED #1"]?.count == 4 && results["handler ITERATION_COMPLETED #1"]?.seconds == 8)
        #expect(results["handler ITERATION_COMPLETED #2"]?.count == 2 && results["handler ITERATION_COMPLETED #2"]?.seconds == 10)
        #expect(results["handler EPOCH_COMPLETED #1"]?.count == 1)
    }
}
