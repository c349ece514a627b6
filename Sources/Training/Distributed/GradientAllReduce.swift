import Cluster
import EngineCore
import NeuralNet

/// Averages the gradient arena across ranks: the handler DDP's reducer is, attached to `.gradientsReady`.
///
/// The trainer scales its loss gradient by 1/world, so the all-reduced sum is already the average (for
/// 1, 2, 4, ... ranks the scaling is exact in binary floating point). With overlap on, the arena's buckets
/// (reverse layer order, a small first bucket) start non-blocking all-reduces as soon as backward has
/// finished them, and `.gradientsReady` waits for the rest: one MPI call per bucket per step. Every rank
/// issues the buckets in the same order, never "whichever is ready first".
public final class GradientAllReduce {
    /// The world the gradients are averaged over.
    public let communicator: any Communicator
    /// The buckets, in the order they are reduced.
    public let buckets: [Range<Int>]
    private let arena: ParameterArena
    private let overlap: Bool
    private var pending: [PendingReduction?]
    private var nextBucket = 0

    /// A reducer of `arena`'s gradients over `communicator`.
    /// - Parameters:
    ///   - overlap: start each bucket's all-reduce during backward (non-blocking) instead of after it.
    ///   - firstBucketBytes, bucketBytes: DDP's bucket sizes (1 MiB first, 25 MiB after).
    public init(arena: ParameterArena, communicator: any Communicator, overlap: Bool = true,
                firstBucketBytes: Int = 1 << 20, bucketBytes: Int = 25 << 20) {
        self.arena = arena
        self.communicator = communicator
        self.overlap = overlap && communicator.size > 1
        buckets = overlap ? arena.buckets(firstBucketBytes: firstBucketBytes, bucketBytes: bucketBytes)
                          : [0..<arena.count]
        pending = Array(repeating: nil, count: buckets.count)
    }

    /// Wires the reducer into a trainer: gradient scale, the backward hook and the `.gradientsReady` handler.
    public func attach(to trainer: SupervisedTrainer) throws {
        guard communicator.size > 1 else { return }
        trainer.gradientScale = 1 / Float(communicator.size)
        if overlap {
            trainer.backwardProgress = { [self] offset in
                do { try backwardReached(offset) } catch { communicator.abort(message: "\(error)", exitCode: 1) }
            }
        }
        try trainer.engine.on(.gradientsReady) { [self] _ in try synchronize() }
    }

    /// Starts the all-reduce of every bucket whose gradients are all final (index >= `offset`).
    func backwardReached(_ offset: Int) throws {
        while nextBucket < buckets.count, buckets[nextBucket].lowerBound >= offset {
            pending[nextBucket] = try communicator.startAllReduceSum(slice(buckets[nextBucket]))
            nextBucket += 1
        }
        for index in 0..<nextBucket { _ = try pending[index]?.isComplete() }
    }

    /// Finishes the step's reduction: starts what backward did not, then waits for every bucket.
    public func synchronize() throws {
        if !overlap {
            try communicator.allReduceSum(slice(0..<arena.count))
            return
        }
        try backwardReached(0)
        for index in pending.indices {
            try pending[index]?.wait()
            pending[index] = nil
        }
        nextBucket = 0
    }

    private func slice(_ range: Range<Int>) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: arena.gradients[range])
    }
}
