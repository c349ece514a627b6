import Cluster
import EngineCore
import NeuralNet
import Testing
import Training

@Suite("DataParallel(mode:): one value decides the trainer, the loader and the evaluation")
struct DataParallelModeTests {
    /// Trains 2 epochs and evaluates in `mode` on a simulated world of `ranks`; every rank's parameter bits and metrics.
    static func train(_ mode: DataParallelMode, ranks: Int, microBatching: MicroBatching = .automatic) throws -> [[UInt64]] {
        var random = CounterRandom(seed: 5, stream: 1)
        let (train, test) = GlyphDataset.generate(count: 203, using: &random).split(testFraction: 0.3, using: &random)
        return try SimulatedWorld(size: ranks).run { world -> [UInt64] in
            let parallel = try DataParallel(communicator: world, mode: mode)
            let model = try Sequential(
                [Flatten(), Linear(inputs: 256, outputs: 16), ReLU(), Dropout(probability: 0.1), Linear(inputs: 16, outputs: 10)],
                inputShape: [1, 16, 16], seed: 2)
            let optimizer = SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9)
            let trainer = try parallel.makeTrainer(
                model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), seed: 9, microBatching: microBatching)
            try parallel.attachTrainingLoss(to: trainer)
            try trainer.run(try parallel.makeLoader(train, batchSize: 4, seed: 9), maxEpochs: 2)
            let evaluation = try parallel.makeEvaluation(
                of: makeSupervisedEvaluator(model: model, loss: SoftmaxCrossEntropy()), test: test, batchSize: 7)
            try evaluation.attach(Accuracy(), name: "accuracy") { ClassificationBatch(predictions: $0.predictions, targets: $0.targets) }
            try evaluation.attach(Loss(), name: "loss") { (Double($0.loss), $0.count) }
            let metrics = try evaluation.run()
            #expect(metrics["accuracy"]! > 0.2 && metrics["loss"]!.isFinite)
            #expect(trainer.state.metrics["train_loss"]!.isFinite)
            return model.arena.parameterValues.map { UInt64($0.bitPattern) }
                + [metrics["accuracy"]!.bitPattern, metrics["loss"]!.bitPattern, trainer.state.metrics["train_loss"]!.bitPattern]
        }
    }

    @Test("virtual shards: parameters, test metrics and the training loss are the same bits on 1, 2 and 4 ranks")
    func virtualShardsSameBits() throws {
        let one = try Self.train(.virtualShards(4), ranks: 1)[0]
        for ranks in [2, 4] {
            for rank in try Self.train(.virtualShards(4), ranks: ranks) { #expect(rank == one, "\(ranks) ranks") }
        }
    }

    @Test("replicated: every rank ends with the same parameters and metrics, and they learn")
    func replicatedAgrees() throws {
        let ranks = try Self.train(.replicated(overlap: false), ranks: 3)
        #expect(Set(ranks).count == 1)
        let overlapped = try Self.train(.replicated(overlap: true), ranks: 2)
        #expect(Set(overlapped).count == 1)
    }

    @Test("replicated ranks that split their batches into micro-batches on replicas agree, overlapped or not")
    func replicatedMicroBatches() throws {
        for overlap in [false, true] {
            let ranks = try Self.train(.replicated(overlap: overlap), ranks: 2, microBatching: .count(2))
            #expect(Set(ranks).count == 1, "overlap \(overlap)")
            #expect(ranks[0] != (try Self.train(.replicated(overlap: overlap), ranks: 2))[0], "the split is a different rounding path")
        }
    }

    @Test("misuse is refused with a clear error: a world that does not divide the shards, a trainer of another mode, a gathered metric per shard")
    func misuse() throws {
        let refusals = try SimulatedWorld(size: 3).run { world -> String in
            do {
                _ = try DataParallel(communicator: world, mode: .virtualShards(4))
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusals.allSatisfy { $0 == "\(VirtualShardsError.worldDoesNotDivide(shards: 4, worldSize: 3))" }, "\(refusals)")
        let model = try Sequential([Linear(inputs: 3, outputs: 2)], inputShape: [3], seed: 1)
        let optimizer = SGD(arena: model.arena, learningRate: 0.1)
        let plain = makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy())
        let sharded = try DataParallel(communicator: LocalCommunicator(), mode: .virtualShards(2))
        #expect(throws: DistributedTrainingError.modeMismatch(mode: "2 virtual shards")) {
            try sharded.attach(to: plain, model: model, optimizer: optimizer)
        }
        var random = CounterRandom(seed: 1, stream: 1)
        let evaluation = try sharded.makeEvaluation(
            of: makeSupervisedEvaluator(model: model), test: GlyphDataset.generate(count: 10, using: &random), batchSize: 4)
        #expect(throws: ArgumentError.self) {
            try evaluation.attach(RankingScore(.rocAUC), name: "roc_auc") { _ in MultilabelBatch(scores: [], targets: [], count: 0, logits: true) }
        }
        #expect(throws: ArgumentError.self) { try sharded.makeLoader(GlyphDataset.generate(count: 10, using: &random), batchSize: 0) }
    }
}
