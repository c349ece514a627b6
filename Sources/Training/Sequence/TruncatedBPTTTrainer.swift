import EngineCore
import NeuralNet

extension Event {
    /// Fired before each chunk of a truncated-BPTT iteration (Ignite's `Tbptt_Events.TIME_ITERATION_STARTED`).
    public static let timeIterationStarted = Event("TIME_ITERATION_STARTED")
    /// Fired after each chunk's optimizer step, `state.output` holding the chunk's loss and predictions (Ignite's
    /// `Tbptt_Events.TIME_ITERATION_COMPLETED`). Both are counted by chunks over the run, saved in the state dict.
    public static let timeIterationCompleted = Event("TIME_ITERATION_COMPLETED")
}

/// The truncated-BPTT trainer's progress within an iteration, kept in the engine's user storage and state dict.
public enum TruncatedBPTTState {
    /// Chunks of the current iteration already stepped (0 between iterations).
    public static let chunksDone = StateKey<Int>("tbptt_chunks_done")
    /// The carried state after the last stepped chunk, as tensors.
    public static let carriedState = StateKey<StateValue>("tbptt_carried_state")
    /// The sum of the current iteration's chunk losses so far.
    public static let lossSum = StateKey<Double>("tbptt_loss_sum")
    /// Chunks stepped since the run began (the time-iteration events' counter).
    public static let timeIteration = StateKey<Int>("time_iteration")

    /// Registers the trainer's events, its progress keys (saved in the state dict) and its gradient hooks.
    static func prepare(_ engine: Engine<SupervisedBatch, SupervisedOutput>, hooks: GradientHooks) {
        engine.registerEvents(.gradientsReady, counter: .iteration)
        engine.registerEvents(.timeIterationStarted, .timeIterationCompleted, counter: .stateValue(timeIteration.name))
        engine.state[.gradientHooks] = hooks
        finishIteration(engine.state)
        engine.state[timeIteration] = 0
        engine.stateDictUserKeys += [chunksDone.name, lossSum.name, carriedState.name, timeIteration.name]
        engine.resumesWithinIteration = true
    }

    /// Clears the progress within an iteration (between iterations there is none).
    static func finishIteration(_ state: EngineState) {
        state[chunksDone] = 0
        state[lossSum] = 0
        state[carriedState] = StateValue.null
    }
}

/// A batch the truncated-BPTT trainer cannot cut.
public enum TruncatedBPTTError: Error, Equatable, CustomStringConvertible {
    case badBatch(inputs: [Int], targets: [Int])
    case badCarriedState(String)

    public var description: String {
        switch self {
        case .badBatch(let inputs, let targets):
            "truncated BPTT needs inputs [batch, time] and targets of the same shape, got \(inputs) and \(targets)"
        case .badCarriedState(let reason): "the saved truncated-BPTT state cannot be restored: \(reason)"
        }
    }
}

/// Ignite's `create_supervised_tbptt_trainer(model, optimizer, loss_fn, tbtt_step, dim=1)`: each iteration takes a
/// batch of sequences [batch, time] with per-position targets, cuts it into chunks of `chunkLength` steps along
/// time and, for each chunk, fires `.timeIterationStarted`, runs forward from the carried state (zeros for the
/// first chunk), the loss, backward, `.gradientsReady` (where `DataParallel` averages the gradients) and an
/// optimizer step, then fires `.timeIterationCompleted`; the state is carried to the next chunk detached.
/// `state.output` is the iteration's mean chunk loss with every position's predictions.
///
/// A checkpoint taken on any event, within an iteration included, resumes exactly: the chunk position, the
/// carried state and the chunk losses so far are in the engine's state dict, and a state dict taken within an
/// iteration records it as not yet done, so the resumed run fetches the same batch and continues at the next chunk.
/// With `microBatching` (whole batches by default) a model that makes replicas runs each chunk's sequences as
/// micro-batches at once, each replica carrying its own sequences' state: the state saved in the engine
/// (`TruncatedBPTTState.carriedState`) is the whole batch's, in row order, while `model.carriedState` then holds the
/// first micro-batch's rows only.
public func makeTruncatedBPTTTrainer(
    model: any RecurrentStateModel, optimizer: any Optimizer, loss: any LossFunction,
    chunkLength: Int, seed: UInt64 = 0, microBatching: MicroBatching = .count(1)
) -> Engine<SupervisedBatch, SupervisedOutput> {
    precondition(chunkLength > 0, "chunkLength must be positive")
    let hooks = GradientHooks()
    let dropoutStream = CounterRandom.derive(CounterRandom.streamKey(purpose: "dropout"), seed)
    let microBatches = MicroBatchReplicas(model: model, policy: microBatching)
    let engine = Engine<SupervisedBatch, SupervisedOutput> { engine, batch in
        let (inputs, targets) = (batch.inputs, batch.targets)
        guard inputs.shape.count == 2, targets.shape == inputs.shape, inputs.shape[1] > 0 else {
            throw TruncatedBPTTError.badBatch(inputs: inputs.shape, targets: targets.shape)
        }
        let (rows, time) = (inputs.shape[0], inputs.shape[1])
        let chunks = (time + chunkLength - 1) / chunkLength
        let storage = engine.state
        // Each micro-batch's model carries the state of its own rows.
        let firstChunk = targets.columns(0..<Swift.min(chunkLength, time))
        let parts = try microBatches.count(rows: rows, terms: loss.averagedTerms(targets: firstChunk))
        let models = (0..<parts).map { index in
            guard let model = microBatches.model(index) as? any RecurrentStateModel else {
                preconditionFailure("a replica of a RecurrentStateModel must be one")
            }
            return model
        }
        var done = storage[TruncatedBPTTState.chunksDone] ?? 0
        var lossSum = storage[TruncatedBPTTState.lossSum] ?? 0
        if done == 0 {
            for model in models { model.carriedState = [] }
            lossSum = 0
        } else {
            let carried = try decodeCarriedState(storage[TruncatedBPTTState.carriedState])
            guard carried.allSatisfy({ $0.shape.count >= 1 && $0.rows == rows }) else {
                throw TruncatedBPTTError.badCarriedState("it is not of the batch's \(rows) sequences")
            }
            for (index, model) in models.enumerated() {
                let range = MicroBatchReplicas.rows(index, of: parts, in: rows)
                model.carriedState = parts == 1 ? carried : carried.map { $0.rows(range) }
            }
        }
        done = Swift.min(done, chunks)
        var predictions = [Tensor]()
        let iterationKey = CounterRandom.derive(dropoutStream, UInt64(storage.iteration))
        for chunk in done..<chunks {
            try engine.fireEvent(.timeIterationStarted)
            let range = (chunk * chunkLength)..<Swift.min((chunk + 1) * chunkLength, time)
            let x = inputs.columns(range)
            let y = targets.columns(range)
            let key = CounterRandom.derive(CounterRandom.derive(iterationKey, UInt64(chunk)), UInt64(hooks.rank))
            let (value, chunkPredictions) = try microBatches.trainingPass(
                inputs: x, targets: y, loss: loss, randomKey: key, gradientScale: hooks.lossGradientScale, accumulate: false,
                progress: nil, count: parts)
            try engine.fireEvent(.gradientsReady)
            optimizer.step()
            lossSum += Double(value)
            predictions.append(chunkPredictions)
            let carried =
                parts == 1
                ? model.carriedState
                : models[0].carriedState.indices.map { part in Tensor(concatenatingRows: models.map { $0.carriedState[part] }) }
            storage[TruncatedBPTTState.chunksDone] = chunk + 1
            storage[TruncatedBPTTState.lossSum] = lossSum
            storage[TruncatedBPTTState.carriedState] = encodeCarriedState(carried)
            storage[TruncatedBPTTState.timeIteration] = (storage[TruncatedBPTTState.timeIteration] ?? 0) + 1
            storage.output = SupervisedOutput(loss: value, predictions: chunkPredictions, targets: y)
            try engine.fireEvent(.timeIterationCompleted)
        }
        TruncatedBPTTState.finishIteration(storage)
        // Every position's predictions (a resumed iteration's earlier chunks are not recomputed: their targets only).
        let resumedColumns = done * chunkLength
        let allPredictions = Tensor(concatenatingColumnsOf: predictions, rows: rows)
        return SupervisedOutput(
            loss: Float(lossSum / Double(chunks)), predictions: allPredictions,
            targets: resumedColumns == 0 ? targets : targets.columns(Swift.min(resumedColumns, time)..<time))
    }
    TruncatedBPTTState.prepare(engine, hooks: hooks)
    return engine
}

/// The carried state as a state-dict value: a dictionary of tensors "0", "1", ...
func encodeCarriedState(_ state: [Tensor]) -> StateValue {
    var dict: StateDict = [:]
    for (index, tensor) in state.enumerated() { dict[String(index)] = .tensor(shape: tensor.shape, values: tensor.values) }
    return .dictionary(dict)
}

/// The carried state from its state-dict value.
func decodeCarriedState(_ value: StateValue?) throws -> [Tensor] {
    guard case .dictionary(let dict)? = value else {
        throw TruncatedBPTTError.badCarriedState("no state saved with a chunk position")
    }
    return try (0..<dict.count).map { index in
        guard case .tensor(let shape, let values)? = dict[String(index)], shape.reduce(1, *) == values.count else {
            throw TruncatedBPTTError.badCarriedState("part \(index) is missing or not a tensor")
        }
        return Tensor(shape: shape, values: values)
    }
}

extension Tensor {
    /// Columns `range` of every row of a [rows, columns, ...] tensor (a span of time steps of every sequence).
    package func columns(_ range: Range<Int>) -> Tensor {
        let (rows, columns) = (shape[0], shape[1])
        let inner = shape.dropFirst(2).reduce(1, *)
        return Tensor(shape: [rows, range.count] + shape.dropFirst(2)) { out in
            values.withUnsafeBufferPointer { source in
                for row in 0..<rows {
                    (out.baseAddress! + row * range.count * inner)
                        .update(from: source.baseAddress! + (row * columns + range.lowerBound) * inner, count: range.count * inner)
                }
            }
        }
    }

    /// Tensors of [rows, columns_i, ...] joined along their second dimension.
    package init(concatenatingColumnsOf parts: [Tensor], rows: Int) {
        guard let first = parts.first else {
            self.init(shape: [rows, 0], values: [])
            return
        }
        let inner = first.shape.dropFirst(2).reduce(1, *)
        let total = parts.reduce(0) { $0 + $1.shape[1] }
        self.init(shape: [rows, total] + first.shape.dropFirst(2)) { out in
            var start = 0
            for part in parts {
                let width = part.shape[1] * inner
                guard width > 0 else { continue }
                part.values.withUnsafeBufferPointer { source in
                    for row in 0..<rows {
                        (out.baseAddress! + (row * total + start) * inner).update(from: source.baseAddress! + row * width, count: width)
                    }
                }
                start += part.shape[1]
            }
        }
    }
}
