import Foundation

/// A world of one process: every collective is the identity. No MPI is involved.
public final class LocalCommunicator: Communicator {
    /// The single rank.
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var reductionOrder: ReductionOrder { .fixedRankOrder }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        CompletedReduction()
    }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard root == 0 else { throw ClusterError.invalidRoot(root, size: 1) }
    }
    public func broadcast(bytes: inout [UInt8], root: Int) throws {
        guard root == 0 else { throw ClusterError.invalidRoot(root, size: 1) }
    }
    public func allGather(_ value: Int64) throws -> [Int64] { [value] }
    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
    public func barrier() throws {}
    public func abort(exitCode: Int32) -> Never {
        exit(exitCode)
    }
}
