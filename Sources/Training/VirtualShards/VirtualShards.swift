import Cluster

/// A fixed split of every global batch into `count` micro-shards, spread over the ranks of a world.
///
/// Training with virtual shards gives the same bits for any world size that divides `count`: each rank computes
/// the gradients of its contiguous block of shards one by one, and the shards' gradients are summed in one fixed
/// binary tree over the shard index, whatever rank computed them. Batch sizes, dropout keys, the last batch of an
/// epoch and the learning-rate schedule depend on the shards, never on the ranks.
public struct VirtualShards: Sendable, Equatable, CustomStringConvertible {
    /// Micro-shards per global batch (a power of two).
    public let count: Int
    /// Ranks in the world.
    public let worldSize: Int
    /// This rank.
    public let rank: Int

    /// `count` shards over a world of `worldSize` ranks, seen from `rank`.
    /// - Throws: `VirtualShardsError` when `count` is not a power of two or the world size does not divide it.
    public init(count: Int, worldSize: Int, rank: Int) throws(VirtualShardsError) {
        guard count >= 1, count <= 1 << 16, count & (count - 1) == 0 else { throw .notPowerOfTwo(count) }
        guard worldSize >= 1, count % worldSize == 0 else { throw .worldDoesNotDivide(shards: count, worldSize: worldSize) }
        precondition((0..<worldSize).contains(rank), "rank \(rank) is not in a world of \(worldSize)")
        self.count = count
        self.worldSize = worldSize
        self.rank = rank
    }

    /// Shards each rank computes.
    public var shardsPerRank: Int { count / worldSize }

    /// The shards this rank computes, a contiguous block (a subtree of the summation tree).
    public var ownedShards: Range<Int> { rank * shardsPerRank..<(rank + 1) * shardsPerRank }

    /// Adds sums kept per shard (one vector per owned shard, in shard order, all of one length) in the shards' fixed
    /// tree, across the world: metric sums that are the same for every world size. A collective.
    public func treeSum(_ perShard: [[Double]], over communicator: any Communicator) throws -> [Double] {
        precondition(perShard.count == shardsPerRank, "one sum vector per owned shard")
        var level = perShard
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { zip(level[$0], level[$0 + 1]).map(+) }
        }
        var total = level[0]
        try total.withUnsafeMutableBufferPointer { try communicator.allReduceSumPairwise($0) }
        return total
    }

    public var description: String { "\(count) virtual shards over \(worldSize) rank\(worldSize == 1 ? "" : "s")" }
}

/// Virtual shards that cannot be laid out.
public enum VirtualShardsError: Error, Equatable, CustomStringConvertible {
    /// The shard count is not a power of two (the summation tree needs one).
    case notPowerOfTwo(Int)
    /// The world size does not divide the shard count, so ranks would hold different numbers of shards.
    case worldDoesNotDivide(shards: Int, worldSize: Int)
    /// A batch's rows do not split into the rank's shards evenly (a loader made for other shards).
    case unevenBatch(rows: Int, shards: Int)

    public var description: String {
        switch self {
        case .notPowerOfTwo(let count): "--virtual-shards \(count) must be a power of two between 1 and 65536"
        case .worldDoesNotDivide(let shards, let world):
            "\(world) ranks cannot share \(shards) virtual shards evenly: run on a world size that divides \(shards) "
                + "(\((0...16).map { 1 << $0 }.filter { $0 <= shards }.map(String.init).joined(separator: ", ")))"
        case .unevenBatch(let rows, let shards):
            "a batch of \(rows) rows does not split into \(shards) equal micro-batches: use a DataLoader made with the same VirtualShards"
        }
    }
}
