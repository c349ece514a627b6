import EngineCore
import NeuralNet

/// An engine that trains `model` on virtual shards: each batch holds this rank's `shards.shardsPerRank`
/// micro-batches one after another; each gets its own forward and backward pass with dropout keyed by its shard
/// (never by the rank), and their gradients are summed in the shards' fixed tree (`ShardGradientSum`). At
/// `.gradientsReady` the arena holds this rank's subtree; `DataParallel` completes the tree across ranks. The
/// gradient is the mean over the global batch, and `loss` the global batch's mean loss, with the same bits for
/// every world size that divides the shard count. A `ShardwiseModel` whose layers all can (a `Sequential` of Linear,
/// ReLU, Dropout and Flatten) runs the rank's shards in one pass with the bits of one pass per shard, its gradients
/// summed in the tree inside the products: virtual shards then cost what whole batches cost. Another model that makes
/// replicas runs the rank's shards at once on the compute threads (the same bits: each shard's pass is the same, and
/// the tree is summed in the same order), up to `maximumConcurrentShards` shards per rank (each keeps a replica: a
/// gradient buffer and its activations); any other runs them one after another.
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
    let replicas = MicroBatchReplicas(model: model, policy: .count(perRank))
    // A model that runs the rank's shards in one pass does (the same path on every world size, so the same bits).
    let shardwise = (model as? any ShardwiseModel).flatMap { $0.runsShardsInOnePass ? $0 : nil }
    let engine = Engine<Batch, Output> { engine, batch in
        let (inputs, targets) = try prepareBatch(batch)
        guard inputs.rows == targets.rows, inputs.rows % perRank == 0, inputs.rows > 0 else {
            throw VirtualShardsError.unevenBatch(rows: inputs.rows, shards: perRank)
        }
        let rows = inputs.rows / perRank
        let iterationKey = CounterRandom.derive(dropoutStream, UInt64(engine.state.iteration))
        // One shard's pass on `model` (the model or a replica): its loss and predictions, its gradients in its arena.
        func shardPass(_ position: Int, on model: any Model) throws -> (loss: Float, predictions: Tensor) {
            let range = position * rows..<(position + 1) * rows
            let shardInputs = perRank == 1 ? inputs : inputs.rows(range)
            let shardTargets = perRank == 1 ? targets : targets.rows(range)
            let key = CounterRandom.derive(iterationKey, UInt64(shards.ownedShards.lowerBound + position))
            let shardPredictions = try model.forward(shardInputs, context: LayerContext(training: true, randomKey: key))
            var (value, gradient) = try loss.valueAndGradient(predictions: shardPredictions, targets: shardTargets)
            gradient.scale(by: shardScale)
            try model.backward(gradient, accumulate: false, progress: nil)
            return (value, shardPredictions)
        }
        var predictions = [Tensor](repeating: Tensor(shape: [0], values: []), count: perRank)
        sum.beginStep()
        if let shardwise {
            let keys = (0..<perRank).map { CounterRandom.derive(iterationKey, UInt64(shards.ownedShards.lowerBound + $0)) }
            let output = try shardwise.forward(inputs, shards: perRank, shardKeys: keys)
            var losses = [Float](repeating: 0, count: perRank)
            var gradients: [Tensor] = []
            gradients.reserveCapacity(perRank)
            for position in 0..<perRank {
                let range = position * rows..<(position + 1) * rows
                var (value, gradient) = try loss.valueAndGradient(
                    predictions: perRank == 1 ? output : output.rows(range), targets: perRank == 1 ? targets : targets.rows(range))
                gradient.scale(by: shardScale)
                losses[position] = value
                gradients.append(gradient)
            }
            try shardwise.backward(perRank == 1 ? gradients[0] : Tensor(concatenatingRows: gradients), shards: perRank)
            sum.takeSubtree(losses: losses)
            predictions = [output]
        } else if perRank > 1, perRank <= maximumConcurrentShards, try replicas.count(rows: perRank, terms: perRank) == perRank {
            var losses = [Float](repeating: 0, count: perRank)
            try losses.withUnsafeMutableBufferPointer { losses in
                try predictions.withUnsafeMutableBufferPointer { predictions in
                    try replicas.run(perRank) { position, model in
                        (losses[position], predictions[position]) = try shardPass(position, on: model)
                    }
                }
            }
            sum.addShards(of: (0..<perRank).map { replicas.model($0).arena }, losses: losses)
        } else {
            for position in 0..<perRank {
                let (value, shardPredictions) = try shardPass(position, on: model)
                sum.addShard(loss: value)
                predictions[position] = shardPredictions
            }
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

/// The most shards per rank that run at once on replicas; a rank with more runs them one after another, holding
/// log2(shards per rank) gradient buffers instead of one per shard.
public let maximumConcurrentShards = 8
