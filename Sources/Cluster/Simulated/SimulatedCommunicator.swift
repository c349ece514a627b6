import Foundation

/// One rank of a `SimulatedWorld`.
final class SimulatedCommunicator: Communicator {
    let rank: Int
    private let hub: SimulatedHub
    private var scratch: [UInt8] = []

    init(rank: Int, hub: SimulatedHub) {
        self.rank = rank
        self.hub = hub
    }

    var size: Int { hub.size }
    var reductionOrder: ReductionOrder { .fixedRankOrder }

    /// Sums in rank order: ((r0 + r1) + r2) + ...
    private func sum<T: AdditiveArithmetic>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        try combine(buffer, operation: "allReduceSum", scratchBuffers: 1) { sources, count, total in
            total.update(from: sources[0], count: count)
            for values in sources.dropFirst() {
                for index in 0..<count { total[index] += values[index] }
            }
        }
    }

    /// Sums as a binary tree over ranks: (r0 + r1) + (r2 + r3).
    private func pairwise<T: AdditiveArithmetic>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        guard size & (size - 1) == 0 else { throw ClusterError.worldNotPowerOfTwo(size) }
        try combine(buffer, operation: "allReduceSumPairwise", scratchBuffers: size / 2 + 1) { sources, count, total in
            pairwiseTreeSum(sources, count: count, into: total, scratch: total + count)
        }
    }

    /// The meeting every simulated reduction is: each rank deposits its buffer, all check the sizes agree, each
    /// forms the total from every rank's buffer with `reduce` (into `scratchBuffers` buffers of scratch, the total
    /// first), and after a second barrier copies it back.
    private func combine<T: AdditiveArithmetic>(
        _ buffer: UnsafeMutableBufferPointer<T>, operation: String, scratchBuffers: Int,
        reduce: ([UnsafePointer<T>], Int, UnsafeMutablePointer<T>) -> Void
    ) throws {
        guard size > 1 else { return }
        hub.pointers[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        hub.counts[rank] = buffer.count
        try hub.barrier()
        guard hub.counts.allSatisfy({ $0 == buffer.count }) else {
            let sizes = Array(hub.counts)
            try hub.barrier()
            throw ClusterError.sizeMismatch(operation: operation, sizes: sizes)
        }
        let count = buffer.count
        let needed = max(1, count * scratchBuffers) * MemoryLayout<T>.stride
        if scratch.count < needed { scratch = Array(repeating: 0, count: needed) }
        scratch.withUnsafeMutableBytes { raw in
            let sources = (0..<size).map { UnsafePointer(hub.pointers[$0]!.assumingMemoryBound(to: T.self)) }
            reduce(sources, count, raw.bindMemory(to: T.self).baseAddress!)
        }
        try hub.barrier()
        scratch.withUnsafeBytes { raw in
            let total = raw.bindMemory(to: T.self)
            for index in 0..<count { buffer[index] = total[index] }
        }
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try sum(buffer) }
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try sum(buffer) }
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws { try sum(buffer) }

    func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try pairwise(buffer) }
    func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try pairwise(buffer) }

    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        try sum(buffer)
        return CompletedReduction()
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard (0..<size).contains(root) else { throw ClusterError.invalidRoot(root, size: size) }
        guard size > 1 else { return }
        hub.pointers[rank] = buffer.baseAddress
        hub.counts[rank] = buffer.count
        try hub.barrier()
        if rank != root, buffer.count > 0 {
            guard hub.counts[root] == buffer.count else {
                try hub.barrier()
                throw ClusterError.sizeMismatch(operation: "broadcast", sizes: Array(hub.counts))
            }
            buffer.baseAddress!.copyMemory(from: hub.pointers[root]!, byteCount: buffer.count)
        }
        try hub.barrier()
    }

    func broadcast(bytes: inout [UInt8], root: Int) throws {
        guard (0..<size).contains(root) else { throw ClusterError.invalidRoot(root, size: size) }
        guard size > 1 else { return }
        if rank == root { hub.setBytes(bytes, rank: root) }
        try hub.barrier()
        if rank != root { bytes = hub.bytes(rank: root) }
        try hub.barrier()
    }

    func allGather(_ value: Int64) throws -> [Int64] {
        guard size > 1 else { return [value] }
        hub.values[rank] = value
        try hub.barrier()
        let values = Array(hub.values)
        try hub.barrier()
        return values
    }

    func allGather(bytes: [UInt8]) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        hub.setBytes(bytes, rank: rank)
        try hub.barrier()
        let all = hub.allBytes
        try hub.barrier()
        return all
    }

    func barrier() throws { try hub.barrier() }

    /// In a simulated world the whole job is this process: print and exit.
    func abort(exitCode: Int32) -> Never {
        exit(exitCode)
    }
}
