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

    private func sum<T: AdditiveArithmetic>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        guard size > 1 else { return }
        hub.pointers[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        hub.counts[rank] = buffer.count
        try hub.barrier()
        guard hub.counts.allSatisfy({ $0 == buffer.count }) else {
            let sizes = Array(hub.counts)
            try hub.barrier()
            throw ClusterError.sizeMismatch(operation: "allReduceSum", sizes: sizes)
        }
        let needed = buffer.count * MemoryLayout<T>.stride
        if scratch.count < needed { scratch = Array(repeating: 0, count: needed) }
        scratch.withUnsafeMutableBytes { raw in
            let total = raw.bindMemory(to: T.self)
            let first = hub.pointers[0]!.assumingMemoryBound(to: T.self)
            for index in 0..<buffer.count { total[index] = first[index] }
            for other in 1..<size {
                let values = hub.pointers[other]!.assumingMemoryBound(to: T.self)
                for index in 0..<buffer.count { total[index] += values[index] }
            }
        }
        try hub.barrier()
        scratch.withUnsafeBytes { raw in
            let total = raw.bindMemory(to: T.self)
            for index in 0..<buffer.count { buffer[index] = total[index] }
        }
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try sum(buffer) }
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try sum(buffer) }
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws { try sum(buffer) }

    func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try pairwise(buffer) }
    func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try pairwise(buffer) }

    private func pairwise<T: AdditiveArithmetic>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        guard size > 1, buffer.count > 0 else { return }
        guard size & (size - 1) == 0 else { throw ClusterError.worldNotPowerOfTwo(size) }
        hub.pointers[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        hub.counts[rank] = buffer.count
        try hub.barrier()
        guard hub.counts.allSatisfy({ $0 == buffer.count }) else {
            let sizes = Array(hub.counts)
            try hub.barrier()
            throw ClusterError.sizeMismatch(operation: "allReduceSumPairwise", sizes: sizes)
        }
        let count = buffer.count
        let needed = count * (size / 2 + 1) * MemoryLayout<T>.stride
        if scratch.count < needed { scratch = Array(repeating: 0, count: needed) }
        scratch.withUnsafeMutableBytes { raw in
            let values = raw.bindMemory(to: T.self).baseAddress!
            let sources = (0..<size).map { UnsafePointer(hub.pointers[$0]!.assumingMemoryBound(to: T.self)) }
            pairwiseTreeSum(sources, count: count, into: values, scratch: values + count)
        }
        try hub.barrier()
        scratch.withUnsafeBytes { raw in
            let total = raw.bindMemory(to: T.self)
            for index in 0..<count { buffer[index] = total[index] }
        }
    }

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
    func abort(message: String, exitCode: Int32) -> Never {
        FileHandle.standardError.write(Data("swift-train: error: \(message)\n".utf8))
        exit(exitCode)
    }
}
