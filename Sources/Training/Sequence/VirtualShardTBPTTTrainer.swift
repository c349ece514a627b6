import EngineCore
import NeuralNet

/// The truncated-BPTT trainer on virtual shards: each batch holds this rank's `shards.shardsPerRank` micro-batches
/// of sequences one after another; every chunk runs each shard from its own carried state (keyed by the shard,
/// never the rank), their gradients summed in the shards' fixed tree (`ShardGradientSum`), then `.gradientsReady`
/// (where `DataParallel` completes the tree across ranks) and one optimizer step. The parameters are the same bits
/// on every world size that divides the shard count. A model that makes replicas runs the rank's shards at once on the
/// compute threads, each replica carrying its shard's state (the same bits). Events, output and exact resume as
/// `makeTruncatedBPTTTrainer(model:optimizer:loss:chunkLength:seed:)`.
public func makeTruncatedBPTTTrainer(
    model: any RecurrentStateModel, optimizer: any Optimizer, loss: any LossFunction,
    chunkLength: Int, virtualShards shards: VirtualShards, seed: UInt64 = 0
)
    -> Engine<SupervisedBatch, SupervisedOutput>
{
    precondition(chunkLength > 0, "chunkLength must be positive")
    let (hooks, sum) = GradientHooks.virtualShards(arena: model.arena, shards: shards)
    let dropoutStream = CounterRandom.derive(CounterRandom.streamKey(purpose: "dropout"), seed)
    // 1/shards is a power of two: scaling each shard's gradient by it is exact, so the tree sum is the mean.
    let shardScale = 1 / Float(shards.count)
    let perRank = shards.shardsPerRank
    let replicas = MicroBatchReplicas(model: model, policy: .count(perRank))
    let engine = Engine<SupervisedBatch, SupervisedOutput> { engine, batch in
        let (inputs, targets) = (batch.inputs, batch.targets)
        guard inputs.shape.count == 2, targets.shape == inputs.shape, inputs.shape[1] > 0 else {
            throw TruncatedBPTTError.badBatch(inputs: inputs.shape, targets: targets.shape)
        }
        guard inputs.rows % perRank == 0, inputs.rows > 0 else { throw VirtualShardsError.unevenBatch(rows: inputs.rows, shards: perRank) }
        let (rows, time) = (inputs.rows / perRank, inputs.shape[1])
        let chunks = (time + chunkLength - 1) / chunkLength
        let state = engine.state
        var done = Swift.min(state[TruncatedBPTTState.chunksDone] ?? 0, chunks)
        var lossSum = state[TruncatedBPTTState.lossSum] ?? 0
        // Each shard's carried state, `parts` tensors per shard.
        var carried: [[Tensor]] = Array(repeating: [], count: perRank)
        if done > 0 {
            let flat = try decodeCarriedState(state[TruncatedBPTTState.carriedState])
            guard flat.count % perRank == 0 else { throw TruncatedBPTTError.badCarriedState("\(flat.count) parts for \(perRank) shards") }
            let parts = flat.count / perRank
            carried = (0..<perRank).map { Array(flat[($0 * parts)..<(($0 + 1) * parts)]) }
        } else {
            lossSum = 0
            done = 0
        }
        var predictions = [[Tensor]](repeating: [], count: perRank)
        let iterationKey = CounterRandom.derive(dropoutStream, UInt64(state.iteration))
        for chunk in done..<chunks {
            try engine.fireEvent(.timeIterationStarted)
            let columns = (chunk * chunkLength)..<Swift.min((chunk + 1) * chunkLength, time)
            sum.beginStep()
            // One shard's pass on `model` (the model or a replica) from the shard's carried state: its loss, output
            // and state after the chunk, its gradients in its arena.
            func shardPass(_ position: Int, on model: any RecurrentStateModel) throws -> (loss: Float, output: Tensor, state: [Tensor]) {
                let range = position * rows..<(position + 1) * rows
                let x = inputs.rows(range).columns(columns)
                let y = targets.rows(range).columns(columns)
                model.carriedState = carried[position]
                let key = CounterRandom.derive(CounterRandom.derive(iterationKey, UInt64(chunk)), UInt64(shards.ownedShards.lowerBound + position))
                let output = try model.forward(x, context: LayerContext(training: true, randomKey: key))
                var (value, gradient) = try loss.valueAndGradient(predictions: output, targets: y)
                gradient.scale(by: shardScale)
                try model.backward(gradient, accumulate: false, progress: nil)
                return (value, output, model.carriedState)
            }
            var results = [(loss: Float, output: Tensor, state: [Tensor])](
                repeating: (0, Tensor(shape: [0], values: []), []), count: perRank)
            if perRank > 1, perRank <= maximumConcurrentShards, try replicas.count(rows: perRank, terms: perRank) == perRank {
                try results.withUnsafeMutableBufferPointer { results in
                    try replicas.run(perRank) { position, replica in
                        guard let replica = replica as? any RecurrentStateModel else {
                            preconditionFailure("a replica of a RecurrentStateModel must be one")
                        }
                        results[position] = try shardPass(position, on: replica)
                    }
                }
                sum.addShards(of: (0..<perRank).map { replicas.model($0).arena }, losses: results.map(\.loss))
            } else {
                for position in 0..<perRank {
                    results[position] = try shardPass(position, on: model)
                    sum.addShard(loss: results[position].loss)
                }
            }
            var chunkPredictions: [Tensor] = []
            for (position, result) in results.enumerated() {
                carried[position] = result.state
                predictions[position].append(result.output)
                chunkPredictions.append(result.output)
            }
            try engine.fireEvent(.gradientsReady)
            optimizer.step()
            let chunkLoss = sum.lossSum * shardScale
            lossSum += Double(chunkLoss)
            state[TruncatedBPTTState.chunksDone] = chunk + 1
            state[TruncatedBPTTState.lossSum] = lossSum
            state[TruncatedBPTTState.carriedState] = encodeCarriedState(carried.flatMap { $0 })
            state[TruncatedBPTTState.timeIteration] = (state[TruncatedBPTTState.timeIteration] ?? 0) + 1
            state.output = SupervisedOutput(
                loss: chunkLoss, predictions: Tensor(concatenatingRows: chunkPredictions),
                targets: targets.columns(columns))
            try engine.fireEvent(.timeIterationCompleted)
        }
        TruncatedBPTTState.finishIteration(state)
        let resumedColumns = Swift.min(done * chunkLength, time)
        let all = Tensor(concatenatingRows: predictions.map { Tensor(concatenatingColumnsOf: $0, rows: rows) })
        return SupervisedOutput(
            loss: Float(lossSum / Double(chunks)), predictions: all,
            targets: resumedColumns == 0 ? targets : targets.columns(resumedColumns..<time))
    }
    TruncatedBPTTState.prepare(engine, hooks: hooks)
    return engine
}
