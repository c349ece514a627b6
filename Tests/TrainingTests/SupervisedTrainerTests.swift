import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

@Suite("The supervised factories and data parallelism for any engine")
struct SupervisedTrainerTests {
    static func data(_ count: Int) -> Dataset {
        var random = CounterRandom(seed: 5, stream: 1)
        let labels = (0..<count).map { Int32($0 % 3) }
        let features = labels.flatMap { label in (0..<6).map { feature in random.nextUniform() + (feature % 3 == Int(label) ? 1 : 0) } }
        return Dataset(features: features, featureCount: 6, labels: labels, classNames: ["a", "b", "c"])
    }

    static func loader(_ samples: Int, batch: Int, world: Int = 1, rank: Int = 0) throws -> DataLoader {
        try DataLoader(
            dataset: data(samples), batchSize: batch,
            sampler: DistributedSampler(count: samples, worldSize: world, rank: rank, shuffle: false, tail: .pad))
    }

    static func parameters(batch: Int, accumulation: Int, samples: Int = 48) throws -> [Float] {
        let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
        let trainer = makeSupervisedTrainer(
            model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1),
            loss: SoftmaxCrossEntropy(), accumulationSteps: accumulation)
        try trainer.run(loader(samples, batch: batch), maxEpochs: 2)
        return model.arena.parameterValues
    }

    @Test("accumulating 4 batches of 4 equals one batch of 16 (within float tolerance)")
    func accumulation() throws {
        let accumulated = try Self.parameters(batch: 4, accumulation: 4)
        let whole = try Self.parameters(batch: 16, accumulation: 1)
        #expect(zip(accumulated, whole).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("GRADIENTS_READY fires once per optimizer step, between backward and the step")
    func gradientsReady() throws {
        let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [4], outputs: 3, seed: 1)
        let trainer = makeSupervisedTrainer(
            model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1),
            loss: SoftmaxCrossEntropy(), accumulationSteps: 2)
        var iterations: [Int] = []
        var parametersAtEvent: [Float] = []
        try trainer.on(.gradientsReady) { engine in
            iterations.append(engine.state.iteration)
            parametersAtEvent = model.arena.parameterValues
        }
        try trainer.run(Self.loader(12, batch: 2), maxEpochs: 1)
        #expect(iterations == [2, 4, 6])
        #expect(parametersAtEvent != model.arena.parameterValues, "the step comes after the event")
    }

    @Test("the returned engine is all a user needs to keep: the factories' engines own model, optimizer and loss")
    func engineAlone() throws {
        func makeEngines() throws -> (Engine<SupervisedBatch, SupervisedOutput>, Engine<SupervisedBatch, SupervisedOutput>) {
            let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
            return (
                makeSupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy()),
                makeSupervisedEvaluator(model: model, loss: SoftmaxCrossEntropy())
            )
        }
        let (trainer, evaluator) = try makeEngines()
        try trainer.run(Self.loader(24, batch: 4), maxEpochs: 2)
        try evaluator.run(Self.loader(24, batch: 8))
        #expect(trainer.state.iteration == 12 && evaluator.state.iteration == 3)
    }

    @Test("state.output and state.batch are values that stay valid after other engines run with larger batches")
    func outputsAreValues() throws {
        let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
        let trainer = makeSupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy())
        let evaluator = makeSupervisedEvaluator(model: model, loss: SoftmaxCrossEntropy())
        try trainer.run(Self.loader(8, batch: 4), maxEpochs: 1)
        let kept = trainer.state.output!
        let keptBatch = trainer.state.batch!
        try evaluator.run(Self.loader(48, batch: 48))
        #expect(trainer.state.output!.predictions == kept.predictions && trainer.state.output!.predictions.shape == [4, 3])
        #expect(trainer.state.batch!.inputs == keptBatch.inputs && keptBatch.inputs.shape == [4, 6])
        #expect(evaluator.state.output!.predictions.shape == [48, 3])
    }

    @Test("a batch of the wrong shape and labels outside the classes are typed errors, not traps or garbage")
    func badInputs() throws {
        let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
        #expect(throws: ModelError.badInput(expected: [6], found: [4, 5])) { try model(Tensor(shape: [4, 5], repeating: 0)) }
        let trainer = makeSupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy())
        let bad = [SupervisedBatch(inputs: Tensor(shape: [2, 6], repeating: 0), targets: Tensor(shape: [2], values: [0, 3]))]
        #expect(throws: LossError.labelOutOfRange(label: 3, classes: 3)) { try trainer.run(bad) }
    }

    @Test("on 4 simulated ranks DataParallel keeps ranks identical and equals one process on the global batch")
    func simulatedRanks() throws {
        let single = try Self.parameters(batch: 16, accumulation: 1, samples: 64)
        let results = try SimulatedWorld(size: 4).run { communicator -> [Float] in
            let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
            let optimizer = SGD(arena: model.arena, learningRate: 0.1)
            let trainer = makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy())
            try DataParallel(communicator: communicator, overlap: true, firstBucketBytes: 64, bucketBytes: 128)
                .attach(to: trainer, arena: model.arena, optimizer: optimizer)
            // Global batch k on one process is order positions 16k..<16k+16; rank r takes positions 4j + r of it.
            try trainer.run(Self.loader(64, batch: 4, world: 4, rank: communicator.rank), maxEpochs: 2)
            try ModelConsistency.verifyIdentical(model.arena, over: communicator, iteration: trainer.state.iteration)
            return model.arena.parameterValues
        }
        for parameters in results { #expect(parameters.map(\.bitPattern) == results[0].map(\.bitPattern)) }
        #expect(zip(results[0], single).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("a process function of the user's own, firing .gradientsReady, is made data-parallel by DataParallel alone")
    func ownProcessFunction() throws {
        let single = try Self.parameters(batch: 16, accumulation: 1, samples: 64)
        let results = try SimulatedWorld(size: 4).run { communicator -> [Float] in
            let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
            let optimizer = SGD(arena: model.arena, learningRate: 0.1)
            let loss = SoftmaxCrossEntropy()
            let engine = Engine<SupervisedBatch, Float> { engine, batch in
                let predictions = try model.forward(batch.inputs, context: LayerContext(training: true, randomKey: 0))
                let (value, gradient) = try loss.valueAndGradient(predictions: predictions, targets: batch.targets)
                try model.backward(gradient, accumulate: false, progress: nil)
                try engine.fireEvent(.gradientsReady)
                optimizer.step()
                return value
            }
            try DataParallel(communicator: communicator).attach(to: engine, arena: model.arena, optimizer: optimizer)
            try engine.run(Self.loader(64, batch: 4, world: 4, rank: communicator.rank), maxEpochs: 2)
            return model.arena.parameterValues
        }
        for parameters in results { #expect(parameters.map(\.bitPattern) == results[0].map(\.bitPattern)) }
        #expect(zip(results[0], single).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("ranks that built different models get a typed error at .started, not a hang or an abort")
    func mismatchedModels() throws {
        #expect(throws: (any Error).self) {
            try SimulatedWorld(size: 2).run { communicator in
                let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [communicator.rank == 0 ? 8 : 9], outputs: 3, seed: 2)
                let trainer = makeSupervisedTrainer(
                    model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1),
                    loss: SoftmaxCrossEntropy())
                try DataParallel(communicator: communicator).attach(to: trainer, arena: model.arena)
                do { try trainer.run(Self.loader(8, batch: 4, world: 2, rank: communicator.rank)) } catch {
                    #expect("\(error)".contains("built a different model than rank 0"))
                    throw error
                }
            }
        }
    }

    @Test("a rank whose parameters diverge is named by the consistency check")
    func divergence() throws {
        #expect(throws: ClusterError.self) {
            try SimulatedWorld(size: 3).run { communicator in
                let model = try Sequential.multilayerPerceptron(inputs: 2, hidden: [], outputs: 2, seed: 1)
                if communicator.rank == 2 {
                    var weight = try model.arena.parameter(named: "0.weight")
                    weight.values[0] += 1
                    try model.arena.setParameter(named: "0.weight", to: weight)
                }
                do { try ModelConsistency.verifyIdentical(model.arena, over: communicator, iteration: 7) } catch {
                    #expect("\(error)" == "parameters of rank 2 diverged from rank 0's at iteration 7")
                    throw error
                }
            }
        }
    }
}

@Suite("The trace recorder", .serialized)
struct TraceRecorderTests {
    @Test("it records the chosen steps' products, kernels and batches as a Chrome trace and as shares that sum to 1")
    func recordsSteps() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
        let trainer = makeSupervisedTrainer(
            model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1, momentum: 0.9),
            loss: SoftmaxCrossEntropy())
        let recorder = try TraceRecorder(steps: 3, skip: 2)
        try recorder.attach(to: trainer, writingTo: path)
        try trainer.run(SupervisedTrainerTests.loader(48, batch: 4), maxEpochs: 1)
        let breakdown = try #require(recorder.breakdown)
        #expect(breakdown.steps == 3)
        let shares = [breakdown.matmul, breakdown.elementwise, breakdown.allReduce, breakdown.data, breakdown.engine, breakdown.other]
        #expect(shares.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(abs(shares.reduce(0, +) - 1) < 0.02, "\(shares)")
        #expect(breakdown.matmul > 0 && breakdown.elementwise > 0 && breakdown.data > 0)
        struct Trace: Decodable {
            struct Event: Decodable {
                var name: String
                var cat: String?
                var ph: String
                var pid: Int
                var tid: Int?
                var dur: Double?
            }
            var traceEvents: [Event]
        }
        let trace = try JSONDecoder().decode(Trace.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let categories = Set(trace.traceEvents.compactMap(\.cat))
        #expect(categories.isSuperset(of: ["matmul", "elementwise", "data", "iteration"]))
        #expect(trace.traceEvents.filter { $0.cat == "iteration" }.map(\.name) == ["iteration 3", "iteration 4", "iteration 5"])
        #expect(trace.traceEvents.contains { $0.ph == "M" && $0.pid == 0 })
        #expect(trace.traceEvents.filter { $0.ph == "X" }.allSatisfy { ($0.dur ?? -1) >= 0 })
    }

    @Test("a run shorter than the recording ends it with the steps it had; ranks send their spans to rank 0")
    func shortRunAndRanks() throws {
        let results = try SimulatedWorld(size: 2).run { world -> (Int?, Int) in
            let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
            let trainer = makeSupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy())
            let recorder = try TraceRecorder(steps: 50, skip: 1)
            try recorder.attach(to: trainer, communicator: world)
            try trainer.run(SupervisedTrainerTests.loader(24, batch: 4, world: 2, rank: world.rank), maxEpochs: 1)
            let trace = recorder.chromeTrace.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
            let pids = (trace?["traceEvents"] as? [[String: Any]])?.compactMap { $0["pid"] as? Int } ?? []
            return (recorder.breakdown?.steps, Set(pids).count)
        }
        #expect(results[0].0 == 2 && results[1].0 == 2, "3 iterations per rank, 1 skipped")
        #expect(results[0].1 == 2, "rank 0's trace has both ranks")
        #expect(results[1].1 == 0, "only rank 0 keeps the trace")
    }

    @Test("bad arguments and an unwritable file are refused before training")
    func refusals() throws {
        #expect(throws: ArgumentError.self) { try TraceRecorder(steps: 0) }
        #expect(throws: ArgumentError.self) { try TraceRecorder(skip: -1) }
        let trainer = Engine<Int, Int> { _, batch in batch }
        #expect(throws: OutputFileError.self) { try TraceRecorder().attach(to: trainer, writingTo: "/nonexistent-directory/trace.json") }
    }
}
