import Cluster
import NeuralNet

/// Sums a rank's micro-shard gradients in the fixed binary tree of its virtual shards, in the arena itself.
///
/// After each shard's backward pass (which overwrites the arena's gradients) call `addShard(loss:)`; after the
/// last one the arena holds the sum of the rank's shards formed as `(g0 + g1) + (g2 + g3)` and `lossSum` the sum
/// of their losses in the same order. Memory: log2(shards per rank) gradient buffers, allocated once; a rank
/// with one shard per step copies nothing.
public final class ShardGradientSum {
    /// The layout the sums follow.
    public let shards: VirtualShards
    /// The sum of the losses added since the last complete tree (complete after the rank's last shard).
    public private(set) var lossSum: Float = 0
    private let arena: ParameterArena
    private let levels: Int
    private let pending: UnsafeMutableBufferPointer<Float>
    private var occupied: [Bool]
    private var pendingLoss: [Float]
    private var added = 0

    /// A sum for `shards` over `arena`'s gradients.
    public init(arena: ParameterArena, shards: VirtualShards) {
        self.arena = arena
        self.shards = shards
        levels = shards.shardsPerRank.trailingZeroBitCount
        pending = .allocate(capacity: Swift.max(1, levels * arena.count))
        pending.initialize(repeating: 0)
        occupied = Array(repeating: false, count: levels)
        pendingLoss = Array(repeating: 0, count: levels)
    }

    deinit { pending.deallocate() }

    /// Whether every shard of this rank has been added since the last complete tree.
    public var isComplete: Bool { added == shards.shardsPerRank }

    /// Starts a step's tree afresh (forgetting the partial sums of a step that was abandoned by an error).
    public func beginStep() {
        added = 0
        for level in occupied.indices { occupied[level] = false }
    }

    /// Takes the gradients now in the arena as the next shard's (in shard order), with that shard's loss.
    public func addShard(loss: Float) {
        if isComplete { beginStep() }
        let count = arena.count
        let gradients = arena.gradients.baseAddress!
        var loss = loss
        var level = 0
        while level < levels, occupied[level] {
            // The earlier subtree plus the later one (addition commutes, so the bits are the tree's).
            Kernels.add(UnsafePointer(pending.baseAddress! + level * count), to: gradients, count: count)
            loss = pendingLoss[level] + loss
            occupied[level] = false
            level += 1
        }
        if level < levels {
            Kernels.copy(UnsafePointer(gradients), to: pending.baseAddress! + level * count, count: count)
            pendingLoss[level] = loss
            occupied[level] = true
        } else {
            lossSum = loss
        }
        added += 1
    }

    /// Takes every shard of the step at once, shard `i`'s gradients in `arenas[i]` (the first is the sum's own arena,
    /// the others replicas' arenas of its layout) and its loss `losses[i]`: the arena then holds the same tree sum, the
    /// same bits, as adding them one by one with `addShard(loss:)`. The pairs of each tree level are added on the
    /// compute threads.
    public func addShards(of arenas: [ParameterArena], losses: [Float]) {
        precondition(
            arenas.count == shards.shardsPerRank && losses.count == arenas.count && arenas.first === arena
                && arenas.allSatisfy { $0.count == arena.count }, "addShards(of:losses:) needs one arena and loss per shard, the sum's first")
        let count = arena.count
        let buffers = arenas.map { $0.gradients.baseAddress! }
        var stride = 1
        let chunk = 1 << 15
        let chunks = Swift.max(1, (count + chunk - 1) / chunk)
        while stride < buffers.count {
            // Pairs (i, i + stride): the earlier subtree plus the later one, as `addShard` forms them.
            let pairs = Array(Swift.stride(from: 0, to: buffers.count, by: 2 * stride))
            BLAS.forEachInParallel(pairs.count * chunks) { _, task in
                let (pair, part) = task.quotientAndRemainder(dividingBy: chunks)
                let start = part * chunk
                let length = Swift.min(chunk, count - start)
                guard length > 0 else { return }
                let first = pairs[pair]
                Kernels.add(UnsafePointer(buffers[first + stride] + start), to: buffers[first] + start, count: length)
            }
            stride *= 2
        }
        // The arena now holds the rank's subtree; the losses follow the same tree.
        takeSubtree(losses: losses)
    }

    /// Takes the arena's gradients as this rank's whole subtree, already summed in the tree by a shardwise pass
    /// (`ShardwiseModel`), with each shard's loss in shard order (added here in the same tree).
    public func takeSubtree(losses: [Float]) {
        precondition(losses.count == shards.shardsPerRank, "takeSubtree(losses:) needs one loss per shard of the rank")
        var losses = losses
        var stride = 1
        while stride < losses.count {
            for first in Swift.stride(from: 0, to: losses.count, by: 2 * stride) { losses[first] = losses[first] + losses[first + stride] }
            stride *= 2
        }
        for level in occupied.indices { occupied[level] = false }
        added = shards.shardsPerRank
        lossSum = losses[0]
    }

    /// Completes the tree across ranks: every rank's subtree of gradients and losses combined pairwise in rank
    /// order, so that every rank holds the sum over all shards. A collective.
    public func combine(over communicator: any Communicator) throws {
        precondition(isComplete, "combine(over:) before every shard of the step was added")
        guard communicator.size > 1 else { return }
        // One call per tree level: the loss travels in the spare value after the gradients.
        let buffer = arena.gradientsAndSpare
        buffer[arena.count] = lossSum
        try communicator.allReduceSumPairwise(buffer)
        lossSum = buffer[arena.count]
    }
}

extension GradientHooks {
    /// The hooks of a virtual-shard trainer: its shards' gradient tree, published for `DataParallel`.
    static func virtualShards(arena: ParameterArena, shards: VirtualShards) -> (hooks: GradientHooks, sum: ShardGradientSum) {
        let hooks = GradientHooks()
        let sum = ShardGradientSum(arena: arena, shards: shards)
        hooks.shardSum = sum
        hooks.rank = shards.rank
        return (hooks, sum)
    }
}
