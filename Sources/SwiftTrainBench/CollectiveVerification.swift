import Cluster
import Foundation
import SwiftTrainApp

/// `swift-train-bench allreduce-verify [--deterministic]` under mpirun: every collective of
/// `MPICommunicator` is checked against values computed from the rank and world size; prints `verified` on
/// rank 0 and exits 0, or names the first wrong result and exits 1.
/// `swift-train-bench allreduce-verify fail:R` makes rank R throw after the first collective, then abort.
func runCollectiveVerification(arguments: [String]) throws {
    let deterministic = arguments.contains("--deterministic")
    let communicator = try MPICommunicator.initialize(reductionOrder: deterministic ? .fixedRankOrder : .fast)
    let rank = communicator.rank
    let size = communicator.size
    func fail(_ message: String) -> Never { JobEnd.abort(communicator, message: message) }
    var floats = (0..<1000).map { Float(rank + 1) * Float($0 % 7) }
    try floats.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
    let total = Float(size * (size + 1) / 2)
    for index in floats.indices where floats[index] != total * Float(index % 7) { fail("float all-reduce wrong at \(index)") }
    if let failing = arguments.first(where: { $0.hasPrefix("fail:") }).flatMap({ Int($0.dropFirst(5)) }), failing == rank {
        fail("failing on purpose after the first collective")
    }
    var doubles = [Double(rank) + 0.5, -Double(rank)]
    try doubles.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
    if doubles != [Double(size * (size - 1) / 2) + 0.5 * Double(size), -Double(size * (size - 1) / 2)] { fail("double all-reduce \(doubles)") }
    var integers = [Int64(rank) << 40, 1]
    try integers.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
    if integers != [Int64(size * (size - 1) / 2) << 40, Int64(size)] { fail("int64 all-reduce \(integers)") }
    // Values chosen so that the order of addition changes the result: the fixed order must give ((r0+r1)+r2)+...
    let values: [Float] = [1e8, 1, -1e8, 3.5, 0.25, -7, 2e-3, 11]
    var ordered = [values[rank % values.count]]
    try ordered.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
    if deterministic {
        var expected: Float = values[0]
        for other in 1..<size { expected += values[other % values.count] }
        if ordered[0].bitPattern != expected.bitPattern { fail("fixed-order sum \(ordered[0]) != \(expected)") }
    }
    var pending = (0..<5000).map { Float($0 + rank) }
    try pending.withUnsafeMutableBufferPointer { buffer in
        let reduction = try communicator.startAllReduceSum(buffer)
        while try !reduction.isComplete() {}
        try reduction.wait()
    }
    for index in pending.indices where pending[index] != Float(size * index + size * (size - 1) / 2) { fail("non-blocking all-reduce at \(index)") }
    var block = [UInt8](repeating: UInt8(rank), count: 64)
    try block.withUnsafeMutableBytes { try communicator.broadcast($0, root: size - 1) }
    if block != [UInt8](repeating: UInt8(size - 1), count: 64) { fail("fixed broadcast") }
    var bytes: [UInt8] = rank == 0 ? Array("hello from rank 0".utf8) : []
    try communicator.broadcast(bytes: &bytes, root: 0)
    if String(decoding: bytes, as: UTF8.self) != "hello from rank 0" { fail("variable broadcast") }
    if try communicator.allGather(Int64(rank * 10)) != (0..<size).map({ Int64($0 * 10) }) { fail("all-gather") }
    let gathered = try communicator.allGather(bytes: [UInt8](repeating: 7, count: rank))
    if gathered != (0..<size).map({ [UInt8](repeating: 7, count: $0) }) { fail("variable all-gather") }
    try communicator.barrier()
    if rank == 0 { print("verified world_size=\(size) order=\(deterministic ? "fixed" : "fast")") }
    communicator.finalize()
}
