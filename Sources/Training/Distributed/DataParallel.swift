import Cluster
import EngineCore
import NeuralNet
import Tracing

/// Data parallelism for any engine: the handlers DDP is, attached to an engine and a model's arena.
///
/// At `.started` it checks that every rank has the same parameter names and shapes, then copies rank 0's
/// parameters (and the optimizer's state, when given) to every rank. At `.gradientsReady` (fired by the
/// supervised trainer, or by your own process function) it averages the gradient arena over the ranks: one
/// all-reduce on the whole buffer, or with `overlap` one per bucket, started during backward. A process
/// function that publishes `GradientHooks` gets the averaging folded into its loss gradient; otherwise the
/// sum is scaled after the all-reduce. Failures are thrown (`ClusterError`, `DistributedTrainingError`) and
/// end the run like any handler's error.
///
/// With a `mode` it is the whole composition: it hands out the trainer, the training loader and the test
/// evaluation that match the mode, attached and sharded, so the choice between replicas and virtual shards is made
/// once, here.
///
/// ```swift
/// let parallel = try DataParallel(communicator: world, mode: .virtualShards(8))
/// let trainer = try parallel.makeTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), seed: 3)
/// try trainer.run(try parallel.makeLoader(train, batchSize: 8, seed: 3), maxEpochs: 3)
/// ```
public final class DataParallel {
    /// The world the gradients are averaged over.
    public let communicator: any Communicator
    /// How the ranks share the work: replicas of their own batches, or virtual shards of a global batch.
    public let mode: DataParallelMode
    /// With virtual shards: their layout over this world, seen from this rank.
    public let shards: VirtualShards?
    /// Whether buckets are all-reduced during backward (non-blocking) instead of once after it.
    public let overlap: Bool
    /// Whether batch norm layers normalise by the statistics of every rank's batch (PyTorch's `SyncBatchNorm`)
    /// rather than each rank's own; set on a model through `attach(to:model:optimizer:)`.
    public let synchronizesBatchStatistics: Bool
    private let firstBucketBytes: Int
    private let bucketBytes: Int

    /// Data parallelism over `communicator`.
    /// - Parameters:
    ///   - overlap: start each bucket's all-reduce during backward; off by default (measured slower when every
    ///     core is busy computing, as with 2 ranks on 2 cores: MPI then progresses only inside MPI calls).
    ///   - firstBucketBytes, bucketBytes: DDP's bucket sizes (1 MiB first, 25 MiB after).
    ///   - synchronizeBatchStatistics: batch norm over every rank's batch (the sums are all-reduced pairwise in a
    ///     fixed order, in forward and backward), so the ranks' running statistics stay identical.
    public init(
        communicator: any Communicator, overlap: Bool = false, firstBucketBytes: Int = 1 << 20,
        bucketBytes: Int = 25 << 20, synchronizeBatchStatistics: Bool = false
    ) {
        self.communicator = communicator
        self.overlap = overlap
        mode = .replicated(overlap: overlap)
        shards = nil
        synchronizesBatchStatistics = synchronizeBatchStatistics
        self.firstBucketBytes = firstBucketBytes
        self.bucketBytes = bucketBytes
    }

    /// Data parallelism over `communicator` in `mode`.
    /// - Throws: `VirtualShardsError` when the shard count is not a power of two or the world size does not divide it.
    public init(
        communicator: any Communicator, mode: DataParallelMode, firstBucketBytes: Int = 1 << 20, bucketBytes: Int = 25 << 20,
        synchronizeBatchStatistics: Bool = false
    ) throws(VirtualShardsError) {
        self.communicator = communicator
        self.mode = mode
        switch mode {
        case .replicated(let overlap):
            self.overlap = overlap
            shards = nil
        case .virtualShards(let count):
            overlap = false
            shards = try VirtualShards(count: count, worldSize: communicator.size, rank: communicator.rank)
        }
        synchronizesBatchStatistics = synchronizeBatchStatistics
        self.firstBucketBytes = firstBucketBytes
        self.bucketBytes = bucketBytes
    }

    /// Attaches data parallelism for `model`: `attach(to:arena:optimizer:)` on its arena (parameters and buffers),
    /// when batch statistics are synchronized the all-reduce its batch norm layers use, and on virtual shards the
    /// running statistics moved once per step in shard order.
    @discardableResult
    public func attach<Batch, Output>(
        to engine: Engine<Batch, Output>, model: any Model,
        optimizer: (any Optimizer)? = nil
    ) throws -> GradientReducer {
        if synchronizesBatchStatistics, let model = model as? any ReplicaStatisticsModel {
            model.replicaSum = { [communicator] values in
                var sums = values
                try sums.withUnsafeMutableBufferPointer { try communicator.allReduceSumPairwise($0) }
                return sums
            }
        }
        let reducer = try attach(to: engine, arena: model.arena, optimizer: optimizer)
        // Virtual shards: the running statistics move once per step by every shard's statistics in shard order (the
        // ranks' records gathered in rank order), so they are the same bits on every world size and every rank.
        if engine.state[.gradientHooks]?.shardSum != nil, !model.arena.bufferEntries.isEmpty,
            let deferred = model as? any DeferredStatisticsModel
        {
            deferred.defersStatistics = true
            try engine.on(.gradientsReady) { [communicator] _ in
                let mine = deferred.takeRecordedStatistics()
                var all = mine
                if communicator.size > 1 {
                    let gathered = try communicator.allGather(bytes: mine.withUnsafeBytes { Array($0) })
                    all = gathered.flatMap { bytes in
                        bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                    }
                }
                try deferred.applyRecordedStatistics(all)
            }
        }
        return reducer
    }

    /// Attaches the start-up check and broadcast to `.started` and the gradient averaging to `.gradientsReady`
    /// (registering that event on `engine` if its process function has not).
    /// - Returns: the reducer, which also offers `synchronize()` to call by hand.
    @discardableResult
    public func attach<Batch, Output>(
        to engine: Engine<Batch, Output>, arena: ParameterArena,
        optimizer: (any Optimizer)? = nil
    ) throws -> GradientReducer {
        // A second attachment would average the gradients twice (and broadcast twice): refused, not applied.
        guard engine.state[.gradientReducer] == nil else { throw DistributedTrainingError.attachedTwice }
        let reducer = GradientReducer(
            arena: arena, communicator: communicator, overlap: overlap,
            firstBucketBytes: firstBucketBytes, bucketBytes: bucketBytes)
        engine.state[.gradientReducer] = reducer
        if !engine.isRegistered(.gradientsReady) { engine.registerEvents(.gradientsReady, counter: .iteration) }
        try engine.on(.started) { [communicator] _ in
            try ModelConsistency.broadcastParameters(arena, over: communicator)
            if let optimizer { try ModelConsistency.broadcastState(of: optimizer, over: communicator) }
        }
        let hooks = engine.state[.gradientHooks]
        if let shards, hooks?.shardSum?.shards != shards {
            guard let made = hooks?.shardSum?.shards else { throw DistributedTrainingError.modeMismatch(mode: mode.description) }
            throw DistributedTrainingError.shardLayoutMismatch(layout: made.description, worldSize: shards.worldSize, rank: shards.rank)
        }
        if let sum = hooks?.shardSum {
            guard sum.shards.worldSize == communicator.size, sum.shards.rank == communicator.rank else {
                throw DistributedTrainingError.shardLayoutMismatch(
                    layout: sum.shards.description, worldSize: communicator.size,
                    rank: communicator.rank)
            }
            reducer.shardSum = sum
        }
        guard communicator.size > 1 else { return reducer }
        if let hooks, hooks.shardSum == nil {
            hooks.lossGradientScale = 1 / Float(communicator.size)
            hooks.rank = communicator.rank
            reducer.scaleAfterReduce = false
            if reducer.overlap { hooks.backwardProgress = { [reducer] offset in reducer.backwardReached(offset) } }
        }
        try engine.on(.gradientsReady) { [reducer] _ in try reducer.synchronize() }
        return reducer
    }
}

/// How the ranks of a data-parallel run share the work.
public enum DataParallelMode: Sendable, Equatable, CustomStringConvertible {
    /// Each rank trains a replica on its own batch and the gradients are averaged (PyTorch's DDP); `overlap` starts
    /// each bucket's all-reduce during backward.
    case replicated(overlap: Bool)
    /// Each global batch is `count` micro-shards (a power of two) spread over the ranks, their gradients summed in one
    /// fixed tree: the same bits on every world size that divides `count`.
    case virtualShards(Int)

    public var description: String {
        switch self {
        case .replicated(let overlap): overlap ? "replicated, overlapping communication" : "replicated"
        case .virtualShards(let count): "\(count) virtual shards"
        }
    }
}

extension StateKey where Value == GradientReducer {
    /// The gradient reducer `DataParallel` attached to an engine (one per engine).
    public static var gradientReducer: StateKey<GradientReducer> { StateKey("gradient_reducer") }
}

/// Averages a gradient arena across ranks, one all-reduce per bucket, buckets always in the same order.
public final class GradientReducer {
    /// The buckets, in the order they are reduced (reverse layer order, a small first bucket).
    public let buckets: [Range<Int>]
    let overlap: Bool
    var scaleAfterReduce = true
    /// Set for a virtual-shard trainer: its shards' gradients are already scaled to a mean, and the ranks' subtrees
    /// are combined in the same tree (with the loss), so every world size dividing the shard count gives the same bits.
    var shardSum: ShardGradientSum?
    private let arena: ParameterArena
    private let communicator: any Communicator
    private var pending: [PendingReduction?]
    private var nextBucket = 0
    private var deferredError: (any Error)?

    init(arena: ParameterArena, communicator: any Communicator, overlap: Bool, firstBucketBytes: Int, bucketBytes: Int) {
        self.arena = arena
        self.communicator = communicator
        self.overlap = overlap && communicator.size > 1
        buckets = self.overlap ? arena.buckets(firstBucketBytes: firstBucketBytes, bucketBytes: bucketBytes) : [0..<arena.count]
        pending = Array(repeating: nil, count: buckets.count)
    }

    /// Starts the all-reduce of every bucket whose gradients are all final (index >= `offset`). An error is
    /// kept and thrown by `synchronize()`, since backward cannot throw through the hook.
    func backwardReached(_ offset: Int) {
        guard deferredError == nil else { return }
        do {
            while nextBucket < buckets.count, buckets[nextBucket].lowerBound >= offset {
                pending[nextBucket] = try communicator.startAllReduceSum(slice(buckets[nextBucket]))
                nextBucket += 1
            }
            for index in 0..<nextBucket { _ = try pending[index]?.isComplete() }
        } catch {
            deferredError = error
        }
    }

    /// Finishes the step's averaging: starts what backward did not, waits for every bucket, scales if needed.
    /// A collective: every rank calls it once per optimizer step.
    public func synchronize() throws {
        guard communicator.size > 1 else { return }
        if let shardSum { return try TraceLog.measure(.allReduce, "shard tree") { try shardSum.combine(over: communicator) } }
        if overlap {
            backwardReached(0)
            if let error = deferredError {
                deferredError = nil
                throw error
            }
            try TraceLog.measure(.allReduce, "wait for buckets") {
                for index in pending.indices {
                    try pending[index]?.wait()
                    pending[index] = nil
                }
            }
            nextBucket = 0
        } else {
            try TraceLog.measure(.allReduce, "all-reduce") { try communicator.allReduceSum(slice(0..<arena.count)) }
        }
        if scaleAfterReduce {
            Kernels.scale(arena.gradients.baseAddress!, count: arena.count, by: 1 / Float(communicator.size))
        }
    }

    private func slice(_ range: Range<Int>) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: arena.gradients[range])
    }
}
