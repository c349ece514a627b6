import EngineCore
import NeuralNet

/// Splits each epoch's global sample order among the ranks of a world.
///
/// The order of epoch `e` is a permutation of the data drawn from `(seed, e)` with the counter-based
/// generator, so every rank computes the same order without communicating. Rank `r` takes positions
/// `r, r + world, r + 2·world, ...`, so global step `k` (batch `k` on every rank) consumes the contiguous
/// positions `k·B·world ..< (k+1)·B·world` of the order. How the tail is handled depends on `tail`.
public struct DistributedSampler: Sendable, Equatable {
    /// What happens when the data does not divide evenly among the ranks.
    public enum Tail: Sendable, Equatable {
        /// Pad by repeating the first indices of the order, as PyTorch's DistributedSampler (training:
        /// every rank takes the same number of batches; a few samples are seen twice per epoch).
        case pad
        /// Drop the last samples of the order so that it divides evenly (a few samples skipped per epoch).
        case drop
        /// Keep every sample exactly once; ranks may hold one sample more than others (evaluation).
        case uneven
    }

    /// Samples in the data set.
    public let count: Int
    /// Ranks in the world.
    public let worldSize: Int
    /// This rank.
    public let rank: Int
    /// Seed of the per-epoch permutation.
    public let seed: UInt64
    /// Whether each epoch draws a new permutation (otherwise the natural order).
    public let shuffle: Bool
    /// The tail policy.
    public let tail: Tail

    /// A sampler for `rank` of `worldSize` over `count` samples.
    public init(
        count: Int, worldSize: Int = 1, rank: Int = 0, seed: UInt64 = 0, shuffle: Bool = true,
        tail: Tail = .pad
    ) {
        precondition(count >= 0 && worldSize > 0 && (0..<worldSize).contains(rank), "invalid sampler geometry")
        self.count = count
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.tail = tail
    }

    /// Length of the epoch's order after padding or dropping.
    public var totalSize: Int {
        switch tail {
        case .pad: (count + worldSize - 1) / worldSize * worldSize
        case .drop: count / worldSize * worldSize
        case .uneven: count
        }
    }

    /// Samples this rank takes per epoch.
    public var samplesPerRank: Int {
        switch tail {
        case .pad: (count + worldSize - 1) / worldSize
        case .drop: count / worldSize
        case .uneven: count / worldSize + (rank < count % worldSize ? 1 : 0)
        }
    }

    /// The epoch's global order: a permutation of `0..<count` (or the identity) padded or trimmed to `totalSize`.
    public func globalOrder(epoch: Int) -> [Int] {
        var order =
            shuffle
            ? CounterRandom.permutation(
                count: count, seed: seed,
                stream: CounterRandom.streamKey(purpose: "sampler", UInt64(epoch)))
            : Array(0..<count)
        let total = totalSize
        if total > order.count, !order.isEmpty {
            var position = 0
            while order.count < total {
                order.append(order[position])
                position += 1
            }
        } else if total < order.count {
            order.removeLast(order.count - total)
        }
        return order
    }

    /// This rank's indices for `epoch`, in the order its batches take them.
    public func indices(epoch: Int) -> [Int] {
        let order = globalOrder(epoch: epoch)
        return Array(stride(from: rank, to: order.count, by: worldSize).map { order[$0] })
    }
}
