import EngineCore
import NeuralNet

/// An engine that trains `model` on virtual shards: each batch holds this rank's `shards.shardsPerRank`
/// micro-batches one after another; each gets its own forward and backward pass with dropout keyed by its shard
/// (never by the rank), and their gradients are summed in the shards' fixed tree (`ShardGradientSum`). At
/// `.gradientsReady` the arena holds this rank's subtree; `DataParallel` completes the tree across ranks. The
/// gradient is the mean over the global batch, and `loss` the global batch's mean loss, with the same bits for
/// every world size that divides the shard count.
/// - Parameters:
///   - prepareBatch: turns a batch (from `DataLoader(dataset:microBatchSize:shards:seed:)`) into inputs and targets.
///   - outputTransform: what the engine stores in `state.output`; its predictions and targets are the rank's.
public func makeSupervisedTrainer<Batch, Output>(
    model: any Model, optimizer: any Optimizer, loss: any LossFunction, virtualShards shards: VirtualShards,
    seed: UInt64 = 0, prepareBatch: @escaping (Batch) throws -> (inputs: Tensor, targets: Tensor),
    outputTransform: @escaping (SupervisedStep) -> Output
) -> Engine<Batch, Output> {
    let (hooks, sum) = GradientHooks.virtualShards(arena: model.arena, shards: shards)
    let dropoutStream = CounterRandom.derive(CounterRandom.streamKey(purpose: "dropout"), seed)
    // 1/shards is a power of two: scaling each shard's gradient by it is exact, so the tree sum is the mean.
    let shardScale = 1 / Float(shards.count)
    let perRank = shards.shardsPerRank
    let engine = Engine<Batch, Output> { engine, batch in
        let (inputs, targets) = try prepareBatch(batch)
        guard inputs.rows == targets.rows, inputs.rows % perRank == 0, inputs.rows > 0 else {
            throw VirtualShardsError.unevenBatch(rows: inputs.rows, shards: perRank)
        }
        let rows = inputs.rows / perRank
        let iterationKey = CounterRandom.derive(dropoutStream, UInt64(engine.state.iteration))
        var predictions: [Tensor] = []
        predictions.reserveCapacity(perRank)
        sum.beginStep()
        for (position, shard) in shards.ownedShards.enumerated() {
            let range = position * rows..<(position + 1) * rows
            let shardInputs = perRank == 1 ? inputs : inputs.rows(range)
            let shardTargets = perRank == 1 ? targets : targets.rows(range)
            let key = CounterRandom.derive(iterationKey, UInt64(shard))
            let shardPredictions = try model.forward(shardInputs, context: LayerContext(training: true, randomKey: key))
            var (value, gradient) = try loss.valueAndGradient(predictions: shardPredictions, targets: shardTargets)
            gradient.scale(by: shardScale)
            try model.backward(gradient, accumulate: false, progress: nil)
            sum.addShard(loss: value)
            predictions.append(shardPredictions)
        }
        try engine.fireEvent(.gradientsReady)
        optimizer.step()
        return outputTransform(
            SupervisedStep(
                inputs: inputs, targets: targets,
                predictions: Tensor(concatenatingRows: predictions),
                loss: sum.lossSum * shardScale))
    }
    engine.registerEvents(.gradientsReady, counter: .iteration)
    engine.state[.gradientHooks] = hooks
    return engine
}

/// A virtual-shard trainer over `SupervisedBatch`es whose output is the loss, predictions and targets.
public func makeSupervisedTrainer(
    model: any Model, optimizer: any Optimizer, loss: any LossFunction, virtualShards: VirtualShards, seed: UInt64 = 0
) -> Engine<SupervisedBatch, SupervisedOutput> {
    makeSupervisedTrainer(
        model: model, optimizer: optimizer, loss: loss, virtualShards: virtualShards, seed: seed,
        prepareBatch: { ($0.inputs, $0.targets) }, outputTransform: \.output)
}
