import Cluster
import EngineCore
import NeuralNet

/// The pieces of a data-parallel run that depend on its mode, handed out already matched to it: a trainer with the
/// gradient path attached, a loader that shards the data, and a test evaluation that combines the ranks' metrics.
extension DataParallel {
    /// A supervised trainer for this mode (one step per batch, or one pass per virtual shard), with the start-up
    /// broadcast and the gradient averaging attached.
    /// - Parameters:
    ///   - microBatching: how a replicated rank splits its batch to run on its compute threads (whole batches by
    ///     default; virtual shards run their shards at once instead, whatever it says).
    ///   - prepareBatch: turns a batch into inputs and targets.
    ///   - outputTransform: what the engine stores in `state.output`.
    public func makeTrainer<Batch, Output>(
        model: any Model, optimizer: any Optimizer, loss: any LossFunction, seed: UInt64 = 0, microBatching: MicroBatching = .count(1),
        prepareBatch: @escaping (Batch) throws -> (inputs: Tensor, targets: Tensor),
        outputTransform: @escaping (SupervisedStep) -> Output
    ) throws -> Engine<Batch, Output> {
        let trainer: Engine<Batch, Output> =
            if let shards {
                makeSupervisedTrainer(
                    model: model, optimizer: optimizer, loss: loss, virtualShards: shards, seed: seed, prepareBatch: prepareBatch,
                    outputTransform: outputTransform)
            } else {
                makeSupervisedTrainer(
                    model: model, optimizer: optimizer, loss: loss, seed: seed, microBatching: microBatching, prepareBatch: prepareBatch,
                    outputTransform: outputTransform)
            }
        try attach(to: trainer, model: model, optimizer: optimizer)
        return trainer
    }

    /// A supervised trainer over `SupervisedBatch`es whose output is the loss, predictions and targets.
    public func makeTrainer(
        model: any Model, optimizer: any Optimizer, loss: any LossFunction, seed: UInt64 = 0, microBatching: MicroBatching = .count(1)
    ) throws -> Engine<SupervisedBatch, SupervisedOutput> {
        try makeTrainer(
            model: model, optimizer: optimizer, loss: loss, seed: seed, microBatching: microBatching, prepareBatch: { ($0.inputs, $0.targets) },
            outputTransform: \.output)
    }

    /// Ignite's truncated-BPTT trainer for this mode (`chunkLength` steps per optimizer step, the hidden state carried
    /// detached), with the gradient path attached; `microBatching` as for `makeTrainer`.
    public func makeTruncatedBPTTTrainer(
        model: any RecurrentStateModel, optimizer: any Optimizer, loss: any LossFunction, chunkLength: Int, seed: UInt64 = 0,
        microBatching: MicroBatching = .count(1)
    ) throws -> Engine<SupervisedBatch, SupervisedOutput> {
        try ArgumentError.require(chunkLength > 0, "makeTruncatedBPTTTrainer(chunkLength:)", chunkLength, "at least 1")
        let trainer =
            if let shards {
                Training.makeTruncatedBPTTTrainer(
                    model: model, optimizer: optimizer, loss: loss, chunkLength: chunkLength, virtualShards: shards, seed: seed)
            } else {
                Training.makeTruncatedBPTTTrainer(
                    model: model, optimizer: optimizer, loss: loss, chunkLength: chunkLength, seed: seed, microBatching: microBatching)
            }
        try attach(to: trainer, model: model, optimizer: optimizer)
        return trainer
    }

    /// The training data sharded for this mode, shuffled by `seed`: this rank's `batchSize` samples per step
    /// (replicated; the last batch padded so every rank steps together), or `batchSize` samples per virtual shard.
    /// - Throws: `ArgumentError` for a batch size below 1.
    public func makeLoader(_ dataset: Dataset, batchSize: Int, seed: UInt64 = 0) throws -> DataLoader {
        if let shards { return try DataLoader(dataset: dataset, microBatchSize: batchSize, shards: shards, seed: seed) }
        return try DataLoader(
            dataset: dataset, batchSize: batchSize,
            sampler: DistributedSampler(
                count: dataset.count, worldSize: communicator.size, rank: communicator.rank, seed: seed, shuffle: true, tail: .pad))
    }

    /// The test evaluation of `test` for this mode on `evaluator`: every sample counted once across the ranks, in
    /// virtual-shard mode with the same bits on every world size. Attach its metrics through it.
    public func makeEvaluation<Output>(
        of evaluator: Engine<SupervisedBatch, Output>, test: Dataset, batchSize: Int
    ) throws -> DataParallelEvaluation<Output> {
        try DataParallelEvaluation(evaluator: evaluator, test: test, batchSize: batchSize, parallel: self)
    }

    /// Attaches the training loss's epoch mean over the world to `trainer` as `state.metrics[name]`.
    public func attachTrainingLoss(to trainer: Engine<SupervisedBatch, SupervisedOutput>, name: String = "train_loss") throws {
        if let shards {
            // The output's loss is already the global batch's, the same on every rank: summed here, never across ranks.
            try Loss().attach(to: trainer, name: name) { (Double($0.loss), $0.count * shards.worldSize) }
        } else {
            try Loss(communicator: communicator).attach(to: trainer, name: name) { (Double($0.loss), $0.count) }
        }
    }
}
