import Autodiff
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training
import _Differentiation

/// A small byte-level corpus with structure to learn.
enum SmallCorpus {
    static let text = String(repeating: "the cat sat on the mat. the dog sat on the log. ", count: 12)

    static func windows(context: Int = 16) throws -> (train: Dataset, validation: Dataset) {
        try TextCorpus(bytes: Array(text.utf8), source: "corpus").languageModelWindows(context: context, validationFraction: 0.1, seed: 3)
    }

    static func model(seed: UInt64 = 1, cell: RecurrentCell = .lstm, layers: Int = 1) throws -> AutodiffRecurrentModel<RecurrentLanguageModel> {
        var random = CounterRandom(seed: seed, stream: 1)
        return try AutodiffRecurrentModel(
            RecurrentLanguageModel(
                vocabulary: 256, embeddingWidth: 8, hidden: 16, layers: layers, cell: cell,
                random: &random), outputShape: [256])
    }
}

/// One process's training run state, for resume comparisons.
final class TBPTTRun {
    let model: AutodiffRecurrentModel<RecurrentLanguageModel>
    let optimizer: Adam
    let trainer: Engine<SupervisedBatch, SupervisedOutput>
    let loader: DataLoader

    init(chunk: Int = 4, microBatches: Int = 1) throws {
        model = try SmallCorpus.model()
        optimizer = Adam(arena: model.arena, learningRate: 1e-2)
        trainer = makeTruncatedBPTTTrainer(
            model: model, optimizer: optimizer, loss: SequenceCrossEntropy(classes: 256), chunkLength: chunk,
            microBatching: .count(microBatches))
        let data = try SmallCorpus.windows().train
        loader = try DataLoader(dataset: data, batchSize: 4, sampler: DistributedSampler(count: data.count, seed: 5))
    }

    var stateDict: StateDict {
        [
            "trainer": .dictionary(trainer.stateDict()), "model": .dictionary(ModelState(model).stateDict()),
            "optimizer": .dictionary(OptimizerState(optimizer).stateDict())
        ]
    }

    func load(_ dict: StateDict) throws {
        try Checkpoint.loadObjects(
            toLoad: ["trainer": trainer, "model": ModelState(model), "optimizer": OptimizerState(optimizer)],
            checkpoint: dict)
    }
}

@Suite("Language models: the truncated-BPTT trainer, byte windows, token metrics")
struct SequenceTrainingTests {
    @Test("a text is cut into contiguous windows whose targets are the next bytes; a seeded split")
    func textWindows() throws {
        let corpus = try TextCorpus(bytes: Array("abcdefghij".utf8))
        let (train, validation) = try corpus.languageModelWindows(context: 3, validationFraction: 0.34, seed: 1)
        #expect(train.count + validation.count == 3 && validation.count == 1)
        let all = train.subset(Array(0..<train.count))
        let (inputs, targets) = all.batch([0])
        #expect(inputs.shape == [1, 3] && targets.shape == [1, 3])
        #expect(zip(inputs.values, targets.values).allSatisfy { $1 == $0 + 1 }, "targets are the next byte")
        #expect(try corpus.languageModelWindows(context: 3, validationFraction: 0.34, seed: 1).validation == validation, "seeded")
        #expect(throws: TextCorpusError.empty(path: "text")) { try TextCorpus(bytes: []) }
        #expect(throws: TextCorpusError.binary(path: "text", offset: 2)) { try TextCorpus(bytes: [65, 66, 0, 67]) }
        #expect(throws: TextCorpusError.binary(path: "text", offset: 1)) { try TextCorpus(bytes: [65, 0xFF, 67]) }
        #expect(throws: TextCorpusError.tooShort(path: "text", bytes: 10, window: 11)) {
            try corpus.languageModelWindows(context: 10, validationFraction: 0, seed: 1)
        }
    }

    @Test("each iteration fires the time-iteration events once per chunk, steps per chunk, and outputs the mean chunk loss")
    func eventsPerChunk() throws {
        let run = try TBPTTRun(chunk: 4)
        var started = 0
        var completed: [Float] = []
        var filtered = 0
        var steps = 0
        var outputs: [Float] = []
        try run.trainer.on(.timeIterationStarted) { _ in started += 1 }
        try run.trainer.on(.timeIterationCompleted) { engine in completed.append(engine.state.output!.loss) }
        try run.trainer.on(.timeIterationCompleted(every: 3)) { _ in filtered += 1 }
        try run.trainer.on(.gradientsReady) { _ in steps += 1 }
        try run.trainer.on(.iterationCompleted) { engine in outputs.append(engine.state.output!.loss) }
        try run.trainer.run(run.loader, maxIterations: 3)
        #expect(started == 12 && completed.count == 12 && steps == 12, "16 steps in chunks of 4, 3 iterations")
        #expect(filtered == 4, "filters count chunks over the run")
        for iteration in 0..<3 {
            let mean = completed[(iteration * 4)..<(iteration * 4 + 4)].reduce(0, +) / 4
            #expect(abs(outputs[iteration] - mean) < 1e-5)
        }
        #expect(run.trainer.state.output!.predictions.shape == [4, 16, 256], "every position's predictions")
    }

    @Test("the state is carried across chunks: a chunked forward equals one pass over the whole sequence")
    func stateCarriedAcrossChunks() throws {
        let model = try SmallCorpus.model()
        let x = try SmallCorpus.windows().train.batch([0, 1]).inputs
        let context = LayerContext(training: false, randomKey: 0)
        model.carriedState = []
        let whole = try model.forward(x, context: context)
        model.carriedState = []
        let first = try model.forward(x.columns(0..<6), context: context)
        let second = try model.forward(x.columns(6..<16), context: context)
        let joined = Tensor(concatenatingColumnsOf: [first, second], rows: 2)
        #expect(zip(joined.values, whole.values).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test("a character LSTM and GRU learn the corpus: the validation loss falls well below a uniform guess")
    func learns() throws {
        for cell in [RecurrentCell.lstm, .gru] {
            let model = try SmallCorpus.model(cell: cell, layers: 2)
            let (train, validation) = try SmallCorpus.windows()
            let trainer = makeTruncatedBPTTTrainer(
                model: model, optimizer: Adam(arena: model.arena, learningRate: 1e-2),
                loss: SequenceCrossEntropy(classes: 256), chunkLength: 8)
            try trainer.run(try DataLoader(dataset: train, batchSize: 8, sampler: DistributedSampler(count: train.count, seed: 1)), maxEpochs: 40)
            let evaluator = makeLanguageModelEvaluator(model: model)
            try TokenLoss(vocabulary: 256).attach(to: evaluator, name: "loss", usage: .runWise) {
                TokenBatch(logits: $0.predictions, targets: $0.targets)
            }
            try TokenLoss(vocabulary: 256, measure: .perplexity).attach(to: evaluator, name: "perplexity", usage: .runWise) {
                TokenBatch(logits: $0.predictions, targets: $0.targets)
            }
            try TokenLoss(vocabulary: 256, measure: .bitsPerToken).attach(to: evaluator, name: "bits", usage: .runWise) {
                TokenBatch(logits: $0.predictions, targets: $0.targets)
            }
            try evaluator.run(try DataLoader(dataset: validation, batchSize: 8, sampler: DistributedSampler(count: validation.count, shuffle: false)))
            let loss = evaluator.state.metrics["loss"]!
            #expect(loss < 1.5, "\(cell): validation loss \(loss) vs ln 256 = 5.5")
            #expect(abs(evaluator.state.metrics["perplexity"]! - Foundation.exp(loss)) < 1e-9)
            #expect(abs(evaluator.state.metrics["bits"]! - loss / Foundation.log(2)) < 1e-9)
        }
    }

    @Test(
        "a checkpoint on any event, within an iteration included, resumes bit-identical to the uninterrupted run (whole batches and 2 micro-batches each carrying its sequences' state)",
        arguments: ["time iteration 6 (mid-sequence)", "time iteration 8 (last chunk)", "iteration started", "iteration completed"], [1, 2])
    func exactResume(at point: String, microBatches: Int) throws {
        let uninterrupted = try TBPTTRun(microBatches: microBatches)
        try uninterrupted.trainer.run(uninterrupted.loader, maxEpochs: 2)

        let first = try TBPTTRun(microBatches: microBatches)
        var saved: StateDict?
        switch point {
        case "time iteration 6 (mid-sequence)":
            try first.trainer.on(.timeIterationCompleted(once: 6)) { engine in
                saved = first.stateDict
                engine.terminate()
            }
        case "time iteration 8 (last chunk)":
            try first.trainer.on(.timeIterationCompleted(once: 8)) { engine in
                saved = first.stateDict
                engine.terminate()
            }
        case "iteration started":
            try first.trainer.on(.iterationStarted(once: 3)) { engine in
                saved = first.stateDict
                engine.terminate()
            }
        default:
            try first.trainer.on(.iterationCompleted(once: 3)) { engine in
                saved = first.stateDict
                engine.terminate()
            }
        }
        try first.trainer.run(first.loader, maxEpochs: 2)
        let checkpoint = try #require(saved)
        // Through the checkpoint file format, into fresh objects.
        let restored = try TBPTTRun(microBatches: microBatches)
        try restored.load(try CheckpointFile.decode(CheckpointFile.encode(checkpoint), source: "memory"))
        var timeIterations: [Int] = []
        try restored.trainer.on(.timeIterationCompleted) { engine in timeIterations.append(engine.state[TruncatedBPTTState.timeIteration]!) }
        try restored.trainer.run(restored.loader, maxEpochs: 2)
        #expect(restored.model.arena.parameterValues == uninterrupted.model.arena.parameterValues, "\(point)")
        #expect(restored.trainer.state.output!.loss == uninterrupted.trainer.state.output!.loss)
        #expect(timeIterations.last == uninterrupted.trainer.state[TruncatedBPTTState.timeIteration], "the chunk count continues")
    }

    @Test("data parallel: the ranks stay identical and equal one process on the whole batch (averaged gradients)")
    func dataParallel() throws {
        let data = try SmallCorpus.windows().train
        let results = try SimulatedWorld(size: 2).run { communicator -> [Float] in
            let model = try SmallCorpus.model()
            let trainer = makeTruncatedBPTTTrainer(
                model: model, optimizer: SGD(arena: model.arena, learningRate: 0.5),
                loss: SequenceCrossEntropy(classes: 256), chunkLength: 4)
            try DataParallel(communicator: communicator).attach(to: trainer, model: model)
            let sampler = DistributedSampler(count: data.count, worldSize: 2, rank: communicator.rank, seed: 5)
            try trainer.run(try DataLoader(dataset: data, batchSize: 2, sampler: sampler), maxIterations: 3)
            return model.arena.parameterValues
        }
        #expect(results[0] == results[1])
        let single = try SmallCorpus.model()
        let trainer = makeTruncatedBPTTTrainer(
            model: single, optimizer: SGD(arena: single.arena, learningRate: 0.5),
            loss: SequenceCrossEntropy(classes: 256), chunkLength: 4)
        let sampler = DistributedSampler(count: data.count, worldSize: 1, rank: 0, seed: 5)
        try trainer.run(try DataLoader(dataset: data, batchSize: 4, sampler: sampler), maxIterations: 3)
        #expect(zip(results[0], single.arena.parameterValues).allSatisfy { abs($0 - $1) < 1e-4 })
    }
}

@Suite("Truncated BPTT on virtual shards")
struct VirtualShardTBPTTTests {
    /// Final parameters of 2 iterations on `world` simulated ranks with 4 virtual shards, and a mid-sequence
    /// checkpoint's resume when `resumeAt` is given (time iteration).
    static func run(world: Int) throws -> [[Float]] {
        let data = try SmallCorpus.windows().train
        return try SimulatedWorld(size: world).run { communicator -> [Float] in
            let shards = try VirtualShards(count: 4, worldSize: world, rank: communicator.rank)
            let model = try SmallCorpus.model()
            let optimizer = Adam(arena: model.arena, learningRate: 1e-2)
            let trainer = makeTruncatedBPTTTrainer(
                model: model, optimizer: optimizer, loss: SequenceCrossEntropy(classes: 256), chunkLength: 4,
                virtualShards: shards)
            try DataParallel(communicator: communicator).attach(to: trainer, model: model, optimizer: optimizer)
            try trainer.run(try DataLoader(dataset: data, microBatchSize: 2, shards: shards, seed: 1), maxIterations: 3)
            return model.arena.parameterValues
        }
    }

    @Test("the parameters are the same bits on 1, 2 and 4 ranks")
    func sameBitsOnEveryWorldSize() throws {
        let one = try Self.run(world: 1)[0]
        for world in [2, 4] {
            for parameters in try Self.run(world: world) { #expect(parameters == one, "world \(world)") }
        }
    }
}

@Suite("Token metrics across ranks")
struct TokenMetricRanksTests {
    @Test("loss, perplexity and bits per byte over 3 ranks with uneven shards equal one process's")
    func unevenRanks() throws {
        @Sendable func evaluate(_ communicator: any Communicator, world: Int, rank: Int) throws -> [Double] {
            let data = try SmallCorpus.windows().train
            let evaluator = makeLanguageModelEvaluator(model: try SmallCorpus.model())
            var metrics: [TokenLoss] = []
            for measure in [TokenLossMeasure.loss, .perplexity, .bitsPerToken] {
                let metric = try TokenLoss(vocabulary: 256, measure: measure, communicator: communicator)
                try metric.attach(to: evaluator, name: "\(measure)", usage: .runWise) { TokenBatch(logits: $0.predictions, targets: $0.targets) }
                metrics.append(metric)
            }
            let sampler = DistributedSampler(count: data.count, worldSize: world, rank: rank, shuffle: false, tail: .uneven)
            try evaluator.run(try DataLoader(dataset: data, batchSize: 5, sampler: sampler))
            return ["loss", "perplexity", "bitsPerToken"].map { evaluator.state.metrics[$0]! }
        }
        let single = try evaluate(LocalCommunicator(), world: 1, rank: 0)
        let data = try SmallCorpus.windows().train
        let results = try SimulatedWorld(size: 3).run { communicator in try evaluate(communicator, world: 3, rank: communicator.rank) }
        #expect(data.count % 3 != 0, "the shards are uneven")
        for result in results {
            for (mine, theirs) in zip(result, single) { #expect(abs(mine - theirs) <= 1e-12 * theirs, "\(mine) vs \(theirs)") }
        }
    }
}
