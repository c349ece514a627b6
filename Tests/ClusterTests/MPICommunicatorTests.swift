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

    @Test(
        "idist under mpirun: reductions of every operation and number type, gathers, broadcasts, one rank first/only, hosts",
        arguments: [Launch(ranks: 2, tcp: false, deterministic: true), Launch(ranks: 3, tcp: true, deterministic: true)])
    func idist(_ launch: Launch) throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("idist")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try ProcessRunner.mpirun(
            ranks: launch.ranks, tcp: launch.tcp, product: "swift-train-bench", ["idist-verify", directory.path], timeout: 120)
        #expect(result.exitCode == 0, "\(result.standardError.suffix(1500))")
        #expect(result.standardOutput.contains("idist verified world_size=\(launch.ranks)"))
    }

    @Test("an idist collective a rank arrives late at ends the job at the collective deadline, naming the collective")
    func idistDeadline() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("idist-late")
        defer { try? FileManager.default.removeItem(at: directory) }
        let start = Date()
        let result = try ProcessRunner.mpirun(ranks: 2, product: "swift-train-bench", ["idist-verify", directory.path, "late:1"], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(Date().timeIntervalSince(start) < 8, "ended at the deadline, before the late rank woke")
        #expect(result.standardError.contains("did not complete within 2 s"), "\(result.standardError.suffix(1000))")
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
