import Cluster
import Foundation
import SwiftTrainApp
import Training

/// `swift-train-bench idist-verify DIRECTORY [late:R]` under mpirun: the user-facing collectives (Ignite's `idist`)
/// over real MPI, checked against values computed from the rank and world size; prints `idist verified` on rank 0.
/// With `late:R`, rank R arrives 8 s late at a gather under a 2 s collective deadline: the job must end, naming it.
func runIdistVerification(arguments: [String]) throws {
    let communicator = try MPICommunicator.initialize(reductionOrder: .fixedRankOrder)
    let (rank, size) = (communicator.rank, communicator.size)
    func fail(_ message: String) -> Never { JobEnd.abort(communicator, message: message) }
    guard let directory = arguments.first else { fail("idist-verify needs a shared directory") }
    if let late = arguments.first(where: { $0.hasPrefix("late:") }).flatMap({ Int($0.dropFirst(5)) }) {
        JobEnd.setCollectiveDeadline(2, on: communicator)
        if rank == late { Thread.sleep(forTimeInterval: 8) }
        _ = try communicator.allGather("rank \(rank)")
        fail("the late rank's gather completed instead of ending at the deadline")
    }
    // Sum, product, min and max of scalars and buffers of three number types, in rank order.
    let factorial = (1...size).reduce(1, *)
    let expected: [ReductionOperation: Int] = [.sum: size * (size + 1) / 2, .product: factorial, .min: 1, .max: size]
    for (operation, value) in expected {
        if try communicator.allReduce(Double(rank + 1), operation) != Double(value) { fail("Double \(operation)") }
        if try communicator.allReduce([Float(rank + 1), -Float(rank + 1)], operation)[0] != Float(value) { fail("Float \(operation)") }
        if try communicator.allReduce([Int64(rank + 1)], operation) != [Int64(value)] { fail("Int64 \(operation)") }
    }
    // Gathers of values of other sizes per rank, and a broadcast of a structure from the last rank.
    let words = try communicator.allGather(String(repeating: "x", count: rank + 1))
    if words != (0..<size).map({ String(repeating: "x", count: $0 + 1) }) { fail("gather of strings \(words)") }
    struct Message: Codable, Equatable {
        var from: Int
        var values: [Double]
    }
    let message = try communicator.broadcast(rank == size - 1 ? Message(from: rank, values: [1.5, -2]) : nil, from: size - 1)
    if message != Message(from: size - 1, values: [1.5, -2]) { fail("broadcast of a structure") }
    // Rank 0 first: the others find its file; then rank 1 alone, the others waiting at its barrier.
    let file = URL(fileURLWithPath: directory).appendingPathComponent("first.txt")
    let content = try communicator.oneRankFirst {
        if rank == 0 { try "made by rank 0".write(to: file, atomically: true, encoding: .utf8) }
        return try String(contentsOf: file, encoding: .utf8)
    }
    if content != "made by rank 0" { fail("one rank first: \(content)") }
    let only = try communicator.oneRankOnly(rank: size - 1, barrier: true) { rank * 10 }
    if only != (rank == size - 1 ? rank * 10 : nil) { fail("one rank only") }
    let layout = try communicator.hostLayout()
    if layout != HostLayout(nodeCount: 1, nodeRank: 0, localRank: rank, localSize: size) { fail("host layout \(layout)") }
    try communicator.barrier()
    if rank == 0 { print("idist verified world_size=\(size)") }
    communicator.finalize()
}
