import Foundation

/// A world of one process: every collective is the identity. No MPI is involved.
public final class LocalCommunicator: Communicator {
    /// The single rank.
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    /// Whether this world's sums are formed in a fixed rank order or MPI's fastest.
    public var reductionOrder: ReductionOrder { .fixedRankOrder }
    /// Sums `values` element-wise over every rank, in place.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    /// Sums `values` element-wise over every rank, in place.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    /// Sums `values` element-wise over every rank, in place.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    /// Sums `values` over every rank in a fixed pairwise order: the same bits on every run.
    public func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    /// Sums `values` over every rank in a fixed pairwise order: the same bits on every run.
    public func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    /// Starts a non-blocking sum of `values` over every rank.
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        CompletedReduction()
    }
    /// Copies rank `root`'s values to every rank.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard root == 0 else { throw ClusterError.invalidRoot(root, size: 1) }
    }
    /// Copies rank `root`'s bytes to every rank.
    public func broadcast(bytes: inout [UInt8], root: Int) throws {
        guard root == 0 else { throw ClusterError.invalidRoot(root, size: 1) }
    }
    /// Every rank's value, by rank.
    public func allGather(_ value: Int64) throws -> [Int64] { [value] }
    /// Every rank's bytes, by rank.
    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
    /// Returns once every rank has called it.
    public func barrier() throws {}
    /// Ends the process with `exitCode`: the whole world of one rank.
    public func abort(exitCode: Int32) -> Never {
        exit(exitCode)
    }
}
