/// How sums across ranks are formed.
public enum ReductionOrder: Sendable, Equatable {
    /// MPI's own all-reduce: fastest; the same bits run after run for a given world size and buffer size.
    case fast
    /// ((r0 + r1) + r2) + ... in rank order: an MPI world and a simulated world of the same size agree bit for bit.
    case fixedRankOrder
}

/// The collective operations data-parallel training needs, over a world of ranks.
///
/// Every rank must call the same collectives in the same order with buffers of the same size.
/// Implementations: `MPICommunicator` (a real cluster), `LocalCommunicator` (one process) and the ranks of a
/// `SimulatedWorld` (threads of one process).
public protocol Communicator: AnyObject {
    /// This rank, in `0..<size`.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }
    /// How sums are formed.
    var reductionOrder: ReductionOrder { get }

    /// Replaces `buffer` on every rank with the element-wise sum over ranks.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Replaces `buffer` on every rank with the element-wise sum over ranks.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Replaces `buffer` on every rank with the element-wise sum over ranks.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    /// Replaces `buffer` on every rank with the sum over ranks formed as a binary tree in rank order,
    /// `(r0 + r1) + (r2 + r3)`: when each rank holds the sum of a contiguous block of a power-of-two number of
    /// leaves, the result has the same bits for every power-of-two world size (virtual shards).
    /// - Throws: `ClusterError.worldNotPowerOfTwo` when the world size is not a power of two.
    func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// The same for Double values (metric sums of virtual shards).
    func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Starts an all-reduce that completes later; `buffer` must stay untouched until it does.
    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction
    /// Copies `root`'s bytes into `buffer` on every rank (every rank passes the same size).
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Replaces `bytes` on every rank with `root`'s, whatever their length.
    func broadcast(bytes: inout [UInt8], root: Int) throws
    /// Every rank's value, by rank.
    func allGather(_ value: Int64) throws -> [Int64]
    /// Every rank's bytes, by rank.
    func allGather(bytes: [UInt8]) throws -> [[UInt8]]
    /// Returns once every rank has called it.
    func barrier() throws
    /// Ends every rank of the job at once with `exitCode` (MPI_Abort). For the application, which decides when a
    /// job must end and says why first: the library never calls it.
    func abort(exitCode: Int32) -> Never
}

/// An all-reduce under way.
public protocol PendingReduction: AnyObject {
    /// Whether it has completed (lets MPI progress it).
    func isComplete() throws -> Bool
    /// Waits for it to complete.
    func wait() throws
}

/// A reduction that completed when it was started.
final class CompletedReduction: PendingReduction {
    func isComplete() throws -> Bool { true }
    func wait() throws {}
}

/// What went wrong in a collective.
public enum ClusterError: Error, Equatable, CustomStringConvertible {
    case mpi(function: String, code: Int32, message: String)
    case peerFailed(rank: Int)
    case rankFailed(rank: Int, message: String)
    case sizeMismatch(operation: String, sizes: [Int])
    case invalidRoot(Int, size: Int)
    case worldNotPowerOfTwo(Int)

    public var description: String {
        switch self {
        case .mpi(let function, let code, let message): "\(function) failed (MPI error \(code)): \(message)"
        case .peerFailed(let rank): "rank \(rank) failed, so this collective cannot complete"
        case .rankFailed(let rank, let message): "rank \(rank): \(message)"
        case .sizeMismatch(let operation, let sizes): "\(operation) called with different sizes on different ranks: \(sizes)"
        case .invalidRoot(let root, let size): "root \(root) is not a rank of a world of \(size)"
        case .worldNotPowerOfTwo(let size): "a pairwise (tree-order) sum needs a power-of-two number of ranks, not \(size)"
        }
    }
}

/// Sums `count` values from each of `sources` (a power-of-two number of buffers, in rank order) into `destination`
/// as a binary tree, `(s0 + s1) + (s2 + s3)`: the order every pairwise all-reduce reproduces. `scratch` holds
/// `count * (sources.count / 2)` values.
func pairwiseTreeSum<T: AdditiveArithmetic>(
    _ sources: [UnsafePointer<T>], count: Int, into destination: UnsafeMutablePointer<T>,
    scratch: UnsafeMutablePointer<T>
) {
    precondition(!sources.isEmpty && sources.count & (sources.count - 1) == 0, "a tree sum needs a power-of-two number of buffers")
    guard sources.count > 1 else {
        destination.update(from: sources[0], count: count)
        return
    }
    // Level one: pairs of sources into scratch; later levels: pairs of partial sums in place.
    var partials: [UnsafeMutablePointer<T>] = []
    for pair in 0..<(sources.count / 2) {
        let target = scratch + pair * count
        let left = sources[2 * pair]
        let right = sources[2 * pair + 1]
        for index in 0..<count { target[index] = left[index] + right[index] }
        partials.append(target)
    }
    while partials.count > 1 {
        var next: [UnsafeMutablePointer<T>] = []
        for pair in 0..<(partials.count / 2) {
            let left = partials[2 * pair]
            let right = partials[2 * pair + 1]
            for index in 0..<count { left[index] += right[index] }
            next.append(left)
        }
        partials = next
    }
    destination.update(from: partials[0], count: count)
}
