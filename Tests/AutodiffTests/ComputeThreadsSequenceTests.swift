import Autodiff
import EngineCore
import NeuralNet
import Testing
import Training
import _Differentiation

/// The sequence models train to the same bits on any number of compute threads (row blocks and panels are cut by
/// shape, the attention pairs are whole tasks).
@Suite("Compute threads: sequence models", .serialized)
struct ComputeThreadsSequenceTests {
    static func withThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        let saved = BLAS.threadCount
        BLAS.threadCount = threads
        defer { BLAS.threadCount = saved }
        return try body()
    }

    static func lstmParameters(threads: Int, microBatching: MicroBatching = .count(1)) throws -> [UInt32] {
        try withThreads(threads) {
            var random = CounterRandom(seed: 2, stream: 1)
            let model = try AutodiffRecurrentModel(
                RecurrentLanguageModel(vocabulary: 256, embeddingWidth: 32, hidden: 256, random: &random),
                outputShape: [256])
            let optimizer = Adam(arena: model.arena, learningRate: 2e-3)
            let trainer = makeTruncatedBPTTTrainer(
                model: model, optimizer: optimizer, loss: SequenceCrossEntropy(classes: 256), chunkLength: 8, microBatching: microBatching)
            let data = try SmallCorpus.windows(context: 32).train
            try trainer.run(
                try DataLoader(dataset: data, batchSize: 32, sampler: DistributedSampler(count: data.count, seed: 1)),
                maxEpochs: 1, epochLength: 2)
            return model.arena.parameters.map(\.bitPattern)
        }
    }

    static func gptParameters(threads: Int, microBatching: MicroBatching = .count(1)) throws -> [UInt32] {
        try withThreads(threads) {
            var random = CounterRandom(seed: 3, stream: 1)
            let model = try AutodiffModel(
                GPT(vocabulary: 256, context: 32, width: 128, heads: 4, layers: 2, random: &random),
                inputShape: [32], outputShape: [32, 256])
            let optimizer = AdamW(arena: model.arena, learningRate: 1e-3, weightDecay: 0.1)
            let trainer = makeSupervisedTrainer(
                model: model, optimizer: optimizer, loss: SequenceCrossEntropy(classes: 256), microBatching: microBatching)
            let data = try SmallCorpus.windows(context: 32).train
            try trainer.run(
                try DataLoader(dataset: data, batchSize: 16, sampler: DistributedSampler(count: data.count, seed: 1)),
                maxEpochs: 1, epochLength: 2)
            return model.arena.parameters.map(\.bitPattern)
        }
    }

    @Test("an LSTM (hidden 256, batch 32: two row blocks) trained with TBPTT on 1, 2 and 4 threads has the same bits")
    func lstmSameBits() throws {
        let one = try Self.lstmParameters(threads: 1)
        #expect(try Self.lstmParameters(threads: 2) == one)
        #expect(try Self.lstmParameters(threads: 4) == one)
    }

    @Test("an LSTM and a GPT trained as 2 micro-batches on replicas have the same bits on 1, 2 and 4 threads")
    func microBatchesSameBits() throws {
        let lstm = try Self.lstmParameters(threads: 1, microBatching: .count(2))
        #expect(try Self.lstmParameters(threads: 2, microBatching: .count(2)) == lstm)
        #expect(try Self.lstmParameters(threads: 4, microBatching: .count(2)) == lstm)
        let gpt = try Self.gptParameters(threads: 1, microBatching: .count(2))
        #expect(try Self.gptParameters(threads: 2, microBatching: .count(2)) == gpt)
        #expect(try Self.gptParameters(threads: 4, microBatching: .count(2)) == gpt)
    }

    @Test("a GPT (width 128, 4 heads, 2 blocks) trained on 1, 2 and 4 threads has the same bits")
    func gptSameBits() throws {
        let one = try Self.gptParameters(threads: 1)
        #expect(try Self.gptParameters(threads: 2) == one)
        #expect(try Self.gptParameters(threads: 4) == one)
    }
}
