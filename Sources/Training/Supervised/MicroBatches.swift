import NeuralNet

/// How many micro-batches a trainer splits each batch into, to run them at the same time on the compute threads
/// (one model replica each) and sum their gradients in micro-batch order. A function of the batch alone, never of
/// the thread count: a run gives the same bits on 1, 2 or 4 threads.
public enum MicroBatching: Sendable, Equatable {
    /// As many micro-batches as keep at least 16 rows and 256 loss terms (samples, or a sequence's positions) each,
    /// at most 8: a weight gradient's product then sums over 256 rows or more and stays compute-bound. A language
    /// model's batch of 32 sequences of 32 positions runs as 2; an MLP's batch of 64 samples runs whole.
    case automatic
    /// Exactly this many micro-batches (1: the whole batch at once); a batch with fewer rows runs one per row.
    case count(Int)

    /// The micro-batches of a batch of `rows` whose loss averages over `terms` terms.
    public func count(rows: Int, terms: Int) -> Int {
        switch self {
        case .automatic: Swift.max(1, Swift.min(8, rows / 16, terms / 256))
        case .count(let count): Swift.max(1, Swift.min(count, rows))
        }
    }
}

/// A replica a `ReplicableModel` handed out that cannot stand in for it.
public enum MicroBatchError: Error, Equatable, CustomStringConvertible {
    /// What is wrong with the replica.
    case badReplica(String)
    /// A micro-batch count the batch or the replicas cannot take.
    case badCount(count: Int, rows: Int)

    public var description: String {
        switch self {
        case .badReplica(let reason): "the model's makeReplica() returned an unusable replica: \(reason)"
        case .badCount(let count, let rows): "\(count) micro-batches cannot split a batch of \(rows) rows"
        }
    }
}

/// A model with replicas for running one step's micro-batches at the same time, one per compute thread: each
/// replica reads the model's parameters and computes into gradients of its own, which are then added into the
/// model's in micro-batch order. A model that makes no replicas (not a `ReplicableModel`, or with running
/// statistics) runs every batch whole. One replica is kept per micro-batch beyond the first.
///
/// Splitting is for models whose rows are independent (a mean over the batch inside the model would become a mean
/// over each micro-batch) and losses that average over their terms (`LossFunction.averagedTerms`); the loss and the
/// model's pullbacks then run on several threads at once.
public final class MicroBatchReplicas {
    /// The model whose arena receives the summed gradients.
    public let model: any Model
    /// How batches are split.
    public let policy: MicroBatching
    private let replicable: (any ReplicableModel)?
    /// Replicas for micro-batches 1, 2, ... (micro-batch 0 runs on the model), made when first needed.
    private var replicas: [any Model] = []
    private var canReplicate: Bool

    /// Replicas of `model` for batches split by `policy`.
    public init(model: any Model, policy: MicroBatching = .count(1)) {
        self.model = model
        self.policy = policy
        replicable = model as? any ReplicableModel
        canReplicate = replicable != nil
    }

    /// The micro-batches a batch of `rows` with `terms` loss terms runs as: the policy's count, or 1 when the model
    /// makes no replicas.
    /// - Throws: `MicroBatchError.badReplica` when the model hands out a replica that cannot stand in for it.
    public func count(rows: Int, terms: Int) throws -> Int {
        let wanted = policy.count(rows: rows, terms: terms)
        return try makeReplicas(wanted - 1) ? wanted : 1
    }

    /// Makes replicas until there are `count`; false when the model makes none.
    private func makeReplicas(_ count: Int) throws -> Bool {
        guard count > 0 else { return true }
        guard canReplicate, let replicable else { return false }
        while replicas.count < count {
            guard let replica = try replicable.makeReplica() else {
                canReplicate = false
                replicas = []
                return false
            }
            try Self.check(replica, of: model)
            replicas.append(replica)
        }
        return true
    }

    /// Refuses a replica that is the model itself, does not share its parameters, or is of another kind.
    private static func check(_ replica: any Model, of model: any Model) throws {
        let root = model.arena.sharedFrom ?? model.arena
        guard replica !== model, replica.arena !== model.arena else { throw MicroBatchError.badReplica("it is the model or has its arena") }
        guard replica.arena.count == model.arena.count, replica.arena.sharedFrom === root else {
            throw MicroBatchError.badReplica("its arena does not share the model's parameters (ParameterArena(sharingParametersOf:))")
        }
        guard !(model is any RecurrentStateModel) || replica is any RecurrentStateModel else {
            throw MicroBatchError.badReplica("the model carries a recurrent state and the replica does not")
        }
    }

    /// The model that runs micro-batch `index` (the model itself for 0), once `count(rows:terms:)` allowed it.
    public func model(_ index: Int) -> any Model {
        precondition(index >= 0 && index <= replicas.count, "micro-batch \(index) has no replica: ask count(rows:terms:) first")
        return index == 0 ? model : replicas[index - 1]
    }

    /// The rows of micro-batch `index` of `count` in a batch of `rows`: contiguous, sizes differing by at most one.
    public static func rows(_ index: Int, of count: Int, in rows: Int) -> Range<Int> {
        (index * rows / count)..<((index + 1) * rows / count)
    }

    /// Runs `body(index, model)` for micro-batches `0..<count` at once on the compute threads, each micro-batch wholly
    /// on one (so with fewer micro-batches than threads some threads idle); rethrows the error of the first
    /// micro-batch that failed.
    /// - Throws: `MicroBatchError` when the model makes no replicas for `count` micro-batches.
    public func run(_ count: Int, _ body: (_ index: Int, _ model: any Model) throws -> Void) throws {
        guard count > 1 else { return try body(0, model) }
        guard try makeReplicas(count - 1) else { throw MicroBatchError.badCount(count: count, rows: count) }
        var failures = [Error?](repeating: nil, count: count)
        failures.withUnsafeMutableBufferPointer { failures in
            BLAS.forEachInParallel(count) { _, index in
                do { try body(index, self.model(index)) } catch { failures[index] = error }
            }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
    }

    /// Adds the gradients of micro-batches 1..<count into the model's, one after another in micro-batch order.
    public func sumGradients(_ count: Int) {
        guard count > 1 else { return }
        precondition(count - 1 <= replicas.count, "sumGradients(\(count)) before the micro-batches ran")
        let arena = model.arena
        for index in 1..<count {
            Kernels.add(UnsafePointer(replicas[index - 1].arena.gradients.baseAddress!), to: arena.gradients.baseAddress!, count: arena.count)
        }
    }

    /// One training pass of a batch: forward (dropout keyed by `randomKey`, and by micro-batch when split), `loss`,
    /// backward of the loss gradient times `gradientScale` (adding to the model's gradients when `accumulate`); the
    /// batch's mean loss and predictions, the same as one pass over the whole batch up to rounding. `progress` is
    /// passed to a whole batch's backward pass (a split batch's gradients are final only once summed). `count`, when
    /// given (from `count(rows:terms:)`), fixes the micro-batches instead of this batch's own.
    public func trainingPass(
        inputs: Tensor, targets: Tensor, loss: any LossFunction, randomKey: UInt64, gradientScale: Float, accumulate: Bool,
        progress: ((Int) -> Void)?, count: Int? = nil
    ) throws -> (loss: Float, predictions: Tensor) {
        guard targets.rows == inputs.rows else {
            throw LossError.shapeMismatch(loss: "\(type(of: loss))", predictions: inputs.shape, targets: targets.shape)
        }
        let count = try count ?? self.count(rows: inputs.rows, terms: loss.averagedTerms(targets: targets))
        guard count >= 1, count <= Swift.max(1, inputs.rows), try makeReplicas(count - 1) else {
            throw MicroBatchError.badCount(count: count, rows: inputs.rows)
        }
        if count == 1 {
            let predictions = try model.forward(inputs, context: LayerContext(training: true, randomKey: randomKey))
            var (value, gradient) = try loss.valueAndGradient(predictions: predictions, targets: targets)
            gradient.scale(by: gradientScale)
            try model.backward(gradient, accumulate: accumulate, progress: progress)
            return (value, predictions)
        }
        let ranges = (0..<count).map { Self.rows($0, of: count, in: inputs.rows) }
        let partTargets = ranges.map { targets.rows($0) }
        let terms = partTargets.map { loss.averagedTerms(targets: $0) }
        let total = terms.reduce(0, +)
        var values = [Float](repeating: 0, count: count)
        var predictions = [Tensor](repeating: Tensor(shape: [0], values: []), count: count)
        try values.withUnsafeMutableBufferPointer { values in
            try predictions.withUnsafeMutableBufferPointer { predictions in
                try run(count) { index, model in
                    let key = CounterRandom.derive(randomKey, UInt64(index))
                    let output = try model.forward(inputs.rows(ranges[index]), context: LayerContext(training: true, randomKey: key))
                    var gradient: Tensor
                    if terms[index] == 0, total > 0 {
                        // Nothing of this micro-batch counts (every target ignored): it adds no gradient.
                        gradient = Tensor(shape: output.shape, repeating: 0)
                    } else {
                        (values[index], gradient) = try loss.valueAndGradient(predictions: output, targets: partTargets[index])
                        gradient.scale(by: gradientScale * Float(terms[index]) / Float(total))
                    }
                    // The model's own micro-batch honours `accumulate`; each replica's gradients are its pass's alone.
                    try model.backward(gradient, accumulate: index == 0 && accumulate, progress: nil)
                    predictions[index] = output
                }
            }
        }
        sumGradients(count)
        var mean: Double = 0
        for index in 0..<count where terms[index] > 0 { mean += Double(values[index]) * Double(terms[index]) / Double(total) }
        return (Float(mean), Tensor(concatenatingRows: predictions))
    }
}
