import Foundation
import Testing
import TestSupport

/// Two test hosts on this machine (network namespaces on a bridge, ../shared/tools/netns-cluster): every byte
/// between ranks on different hosts crosses a real TCP socket. Needs root and iproute2, as CI has.
@Suite("Training across two hosts (network namespaces)", .serialized)
final class MultiHostTests {
    let tool = ProcessRunner.sharedDirectory.appendingPathComponent("tools/netns-cluster").path

    init() throws {
        let up = try ProcessRunner.run("bash", [tool, "up", "2"], timeout: 60)
        try #require(up.exitCode == 0, "netns-cluster up failed: \(up.standardError)")
    }

    deinit { _ = try? ProcessRunner.run("bash", [tool, "down"], timeout: 60) }

    /// `netns-cluster mpirun -n 4 --map-by node swift-train ARGS`: ranks 0 and 2 on host 1, 1 and 3 on host 2.
    ///
    /// Open MPI's daemon (orted) sometimes crashes while starting in a fresh namespace (in hwloc, before any
    /// rank runs: "ORTE was unable to reliably start one or more daemons"); only that start-up failure is
    /// retried, twice at most. hwloc's run-time control is off: these jobs bind nothing.
    func cluster(_ arguments: [String], in directory: URL? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
        var environment = ProcessRunner.mpiEnvironment
        environment["OMPI_MCA_rtc"] = "^hwloc"
        var result: ProcessResult
        var attempts = 0
        repeat {
            attempts += 1
            result = try ProcessRunner.run(
                "bash", [tool, "mpirun", "-n", "4", "--map-by", "node", try ProcessRunner.executable("swift-train")] + arguments,
                environment: environment, currentDirectory: directory, timeout: timeout)
        } while result.exitCode != 0 && result.standardError.contains("ORTE was unable to reliably start") && attempts < 3
        return result
    }

    static let common = ["--epochs", "2", "--no-progress", "--builtin-samples", "800", "--batch-size", "16", "--deterministic",
                         "--seed", "5", "--model", "mlp:32"]

    @Test("4 ranks on 2 hosts over TCP give the bits of 4 simulated ranks (deterministic mode)")
    func acrossHosts() throws {
        let hosts = try cluster(Self.common)
        #expect(hosts.exitCode == 0, "\(hosts.standardError.suffix(1500))")
        let simulated = try SwiftTrainRunner.run(Self.common + ["--simulate-ranks", "4"])
        #expect(try SwiftTrainRunner.string(hosts, "parameters_sha256") == SwiftTrainRunner.string(simulated, "parameters_sha256"))
    }

    @Test("4 ranks on 2 hosts with --virtual-shards 4 give one process's bits")
    func virtualShardsAcrossHosts() throws {
        let arguments = ["--epochs", "2", "--no-progress", "--builtin-samples", "800", "--batch-size", "8", "--virtual-shards", "4",
                         "--seed", "5", "--model", "mlp:32"]
        let hosts = try cluster(arguments)
        #expect(hosts.exitCode == 0, "\(hosts.standardError.suffix(1500))")
        let single = try SwiftTrainRunner.run(arguments)
        #expect(try SwiftTrainRunner.string(hosts, "parameters_sha256") == SwiftTrainRunner.string(single, "parameters_sha256"))
    }

    @Test("a cluster stopped mid-epoch resumes from rank 0's checkpoint across hosts with the uninterrupted bits")
    func resumeAcrossHosts() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("hosts")
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = Self.common + ["--checkpoint-every", "4"]
        let full = try cluster(arguments + ["--checkpoint-dir", directory.appendingPathComponent("full").path])
        #expect(full.exitCode == 0, "\(full.standardError.suffix(3000))")
        let checkpoints = directory.appendingPathComponent("stopped").path
        let stopped = try cluster(arguments + ["--checkpoint-dir", checkpoints, "--stop-after", "10"])
        #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(3000))")
        let resumed = try cluster(arguments + ["--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
    }

    @Test("a rank killed on the second host ends the whole job promptly")
    func killedHostRank() throws {
        let start = Date()
        let result = try cluster(Self.common + ["--inject-fault", "kill:1:5"], timeout: 90)
        #expect(result.exitCode != 0)
        #expect(!result.timedOut)
        #expect(Date().timeIntervalSince(start) < 30)
    }
}
