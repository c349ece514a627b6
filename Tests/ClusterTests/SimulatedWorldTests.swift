import Cluster
import Foundation
import Testing

struct RankFailure: Error {}

@Suite("A simulated world of ranks behaves like an MPI world")
struct SimulatedWorldTests {
    @Test("all-reduce sums Float, Double and Int64 buffers across ranks", arguments: [1, 2, 3, 4])
    func allReduce(size: Int) throws {
        let results = try SimulatedWorld(size: size).run { communicator in
            var floats = (0..<100).map { Float(communicator.rank + 1) * Float($0) }
            try floats.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            var doubles = [Double(communicator.rank), 0.5]
            try doubles.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            var integers = [Int64(communicator.rank) << 33]
            try integers.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            return (floats, doubles, integers)
        }
        let total = Float(size * (size + 1) / 2)
        for (floats, doubles, integers) in results {
            #expect(floats == (0..<100).map { total * Float($0) })
            #expect(doubles == [Double(size * (size - 1) / 2), 0.5 * Double(size)])
            #expect(integers == [Int64(size * (size - 1) / 2) << 33])
        }
    }

    @Test("sums are formed in rank order: ((r0 + r1) + r2) + r3, bit for bit")
    func fixedOrder() throws {
        let values: [Float] = [1e8, 1, -1e8, 3.5]
        let results = try SimulatedWorld(size: 4).run { communicator in
            var value = [values[communicator.rank]]
            try value.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            return value[0]
        }
        let expected = ((values[0] + values[1]) + values[2]) + values[3]
        #expect(expected != values[0] + (values[1] + (values[2] + values[3])), "the values make order matter")
        #expect(results.allSatisfy { $0.bitPattern == expected.bitPattern })
    }

    @Test("broadcast of fixed and variable bytes, all-gather and non-blocking all-reduce")
    func otherCollectives() throws {
        let results = try SimulatedWorld(size: 3).run { communicator -> ([UInt8], [UInt8], [Int64], [[UInt8]], [Float]) in
            var block = [UInt8](repeating: UInt8(communicator.rank), count: 8)
            try block.withUnsafeMutableBytes { try communicator.broadcast($0, root: 2) }
            var bytes: [UInt8] = communicator.rank == 1 ? Array("from one".utf8) : []
            try communicator.broadcast(bytes: &bytes, root: 1)
            let gathered = try communicator.allGather(Int64(communicator.rank * 7))
            let gatheredBytes = try communicator.allGather(bytes: [UInt8](repeating: 1, count: communicator.rank))
            var pending = [Float(communicator.rank), 1]
            try pending.withUnsafeMutableBufferPointer { try communicator.startAllReduceSum($0).wait() }
            try communicator.barrier()
            return (block, bytes, gathered, gatheredBytes, pending)
        }
        for (block, bytes, gathered, gatheredBytes, pending) in results {
            #expect(block == [UInt8](repeating: 2, count: 8))
            #expect(String(decoding: bytes, as: UTF8.self) == "from one")
            #expect(gathered == [0, 7, 14])
            #expect(gatheredBytes == [[], [1], [1, 1]])
            #expect(pending == [3, 3])
        }
    }

    @Test("a rank that throws makes every other rank fail promptly with peerFailed, never hang")
    func failurePropagates() throws {
        let start = Date()
        #expect(throws: ClusterError.rankFailed(rank: 2, message: "RankFailure()")) {
            try SimulatedWorld(size: 4).run { communicator in
                try communicator.barrier()
                if communicator.rank == 2 { throw RankFailure() }
                var value: [Float] = [1]
                for _ in 0..<3 { try value.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) } }
            }
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("buffers of different sizes on different ranks are an error, not a corruption")
    func sizeMismatch() throws {
        #expect(throws: ClusterError.self) {
            try SimulatedWorld(size: 2).run { communicator in
                var values = [Float](repeating: 1, count: communicator.rank + 1)
                try values.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
            }
        }
    }

    @Test("a world of one process: every collective is the identity")
    func local() throws {
        let communicator = LocalCommunicator()
        var values: [Float] = [1, 2]
        try values.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        #expect(values == [1, 2] && communicator.size == 1 && communicator.rank == 0)
        #expect(try communicator.allGather(5) == [5])
        #expect(throws: ClusterError.invalidRoot(1, size: 1)) {
            var b: [UInt8] = []
            try communicator.broadcast(bytes: &b, root: 1)
        }
    }
}

@Suite("Pairwise all-reduce: a binary tree over ranks")
struct PairwiseAllReduceTests {
    @Test("4 simulated ranks sum as (r0 + r1) + (r2 + r3), every rank the same bits")
    func treeOrder() throws {
        let values: [Float] = [1e8, 1, -1e8, 1]
        let results = try SimulatedWorld(size: 4).run { communicator -> Float in
            var buffer = [values[communicator.rank]]
            try buffer.withUnsafeMutableBufferPointer { try communicator.allReduceSumPairwise($0) }
            return buffer[0]
        }
        #expect(results == Array(repeating: (values[0] + values[1]) + (values[2] + values[3]), count: 4))
    }

    @Test("a world that is not a power of two is refused")
    func powerOfTwo() throws {
        #expect(throws: ClusterError.self) {
            _ = try SimulatedWorld(size: 3).run { communicator in
                var buffer: [Float] = [1]
                try buffer.withUnsafeMutableBufferPointer { try communicator.allReduceSumPairwise($0) }
            }
        }
    }
}
