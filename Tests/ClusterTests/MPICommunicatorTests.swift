import Foundation
import TestSupport
import Testing

@Suite("MPI collectives under mpirun, over shared memory and TCP sockets", .serialized)
struct MPICommunicatorTests {
    struct Launch: CustomTestStringConvertible, Sendable {
        let ranks: Int
        let tcp: Bool
        let deterministic: Bool
        var testDescription: String { "\(ranks) ranks, \(tcp ? "TCP" : "shared memory")\(deterministic ? ", fixed order" : "")" }
    }

    @Test(
        "every collective returns the expected values",
        arguments: [
            Launch(ranks: 2, tcp: false, deterministic: false), Launch(ranks: 2, tcp: true, deterministic: false),
            Launch(ranks: 4, tcp: false, deterministic: true), Launch(ranks: 4, tcp: true, deterministic: false),
            Launch(ranks: 3, tcp: false, deterministic: true)
        ])
    func collectives(_ launch: Launch) throws {
        let result = try ProcessRunner.mpirun(
            ranks: launch.ranks, tcp: launch.tcp, product: "swift-train-bench",
            ["allreduce-verify"] + (launch.deterministic ? ["--deterministic"] : []),
            timeout: 120)
        #expect(result.exitCode == 0, "\(result.standardError.suffix(1500))")
        #expect(result.standardOutput.contains("verified world_size=\(launch.ranks)"))
    }

    @Test("a rank that fails ends the whole job within 10 seconds with a message naming it")
    func failingRank() throws {
        let start = Date()
        let result = try ProcessRunner.mpirun(ranks: 3, product: "swift-train-bench", ["allreduce-verify", "fail:1"], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(result.standardError.contains("rank 1: failing on purpose"), "\(result.standardError.suffix(1000))")
    }
}
