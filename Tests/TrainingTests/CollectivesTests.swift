import Cluster
import Foundation
import Testing
import Training

/// Ignite's idist for library users, on three simulated ranks (any world size, not only powers of two).
@Suite("Collectives for users: reduce, gather, broadcast, one rank only or first")
struct CollectivesTests {
    struct Report: Codable, Equatable, Sendable {
        var rank: Int
        var words: [String]
    }

    @Test("sum, product, min and max of scalars and buffers, in rank order, the same on every rank")
    func reductions() throws {
        let results = try SimulatedWorld(size: 3).run { world -> [[Double]] in
            let mine = Double(world.rank + 1)
            return try ReductionOperation.allCases.map { try world.allReduce([mine, -mine], $0) }
                + [[try world.allReduce(0.5 * mine, .max)]]
        }
        #expect(results[0] == [[6, -6], [6, -6], [1, -3], [3, -1], [1.5]])
        #expect(results[1] == results[0] && results[2] == results[0])
        // The simulated world reports a rank's error as its own, naming the rank.
        #expect(throws: ClusterError.self) {
            _ = try SimulatedWorld(size: 2).run { world in try world.allReduce(Array(repeating: 1.0, count: world.rank + 1)) }
        }
    }

    @Test("reductions of Float and Int buffers, and the host layout of a simulated world (one host)")
    func typedReductionsAndHosts() throws {
        let results = try SimulatedWorld(size: 4).run { world -> [String] in
            let floats = try ReductionOperation.allCases.map { try world.allReduce([Float(world.rank + 1)], $0)[0] }
            let integers = try ReductionOperation.allCases.map { try world.allReduce(world.rank + 1, $0) }
            let layout = try world.hostLayout()
            return ["\(floats)", "\(integers)", "\(layout.nodeCount) \(layout.nodeRank) \(layout.localRank) \(layout.localSize)"]
        }
        for (rank, result) in results.enumerated() {
            #expect(result == ["[10.0, 24.0, 1.0, 4.0]", "[10, 24, 1, 4]", "1 0 \(rank) 4"])
        }
    }

    @Test("gathers of values of different sizes per rank, and broadcasts of Codable values from any rank")
    func gatherAndBroadcast() throws {
        let results = try SimulatedWorld(size: 3).run { world -> ([Report], Report, [Double]) in
            let report = Report(rank: world.rank, words: Array(repeating: "w", count: world.rank))
            let gathered = try world.allGather(report)
            let fromTwo = try world.broadcast(world.rank == 2 ? report : nil, from: 2)
            let specials = try world.allGather(world.rank == 0 ? Double.nan : Double.infinity)
            return (gathered, fromTwo, specials)
        }
        for (gathered, fromTwo, specials) in results {
            #expect(gathered.map(\.words.count) == [0, 1, 2] && fromTwo == Report(rank: 2, words: ["w", "w"]))
            #expect(specials[0].isNaN && specials[1] == .infinity)
        }
        #expect(throws: CollectiveError.nothingToBroadcast(root: 0)) { try LocalCommunicator().broadcast(Int?.none, from: 0) }
    }

    @Test("oneRankFirst runs on the chosen rank before the others; a failure there is every rank's; oneRankOnly skips the rest")
    func oneRank() throws {
        let log = Log()
        let values = try SimulatedWorld(size: 3).run { world -> Int in
            try world.oneRankFirst(rank: 1) {
                log.append(world.rank)
                return world.rank * 10
            }
        }
        #expect(values == [0, 10, 20] && log.entries.first == 1 && log.entries.count == 3)
        struct Broken: Error {}
        let outcomes = try SimulatedWorld(size: 3).run { world -> String in
            do {
                _ = try world.oneRankFirst { () throws -> Int in if world.rank == 0 { throw Broken() } else { return 1 } }
                return "ran"
            } catch { return world.rank == 0 ? "own error" : "\(error)" }
        }
        #expect(outcomes[0] == "own error" && outcomes[1].hasPrefix("rank 0 failed") && outcomes[2] == outcomes[1])
        let only = try SimulatedWorld(size: 3).run { world in try world.oneRankOnly(rank: 2, barrier: true) { "done" } }
        #expect(only == [nil, nil, "done"])
    }
}

final class Log: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int] = []
    var entries: [Int] { lock.withLock { stored } }
    func append(_ value: Int) { lock.withLock { stored.append(value) } }
}
