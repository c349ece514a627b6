import Foundation
import TestSupport
import Testing

/// Two test hosts on this machine (network namespaces on a bridge, ../shared/tools/netns-cluster): every byte
/// between ranks on different hosts crosses a real TCP socket. Needs root and iproute2, as CI has.
@Suite("Training across two hosts (network namespaces)", .serialized)
final class MultiHostTests {
    let tool = ProcessRunner.sharedDirectory.appendingPathComponent("tools/netns-cluster").path
    /// The hostfile `netns-cluster up` writes (10.77.0.11 and .12, 2 slots each).
    var hostfile: String { (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/netns-cluster/hostfile" }

    init() throws {
        // A namespace whose processes were killed may outlive `netns-cluster down` for a while (the kernel frees it
        // once its sockets close), keeping its veth: remove such leftovers so that `up` can create them again.
        _ = try ProcessRunner.run(
            "bash", ["-c", "for link in $(ip -o link show | grep -o 'st-v[0-9]*@' | tr -d @); do ip link del $link; done"],
            timeout: 30)
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

    static let common = [
        "--epochs", "2", "--no-progress", "--builtin-samples", "800", "--batch-size", "16", "--deterministic",
        "--seed", "5", "--model", "mlp:32"
    ]

    @Test("4 ranks on 2 hosts over TCP give the bits of 4 simulated ranks (deterministic mode)")
    func acrossHosts() throws {
        let hosts = try cluster(Self.common)
        #expect(hosts.exitCode == 0, "\(hosts.standardError.suffix(1500))")
        let simulated = try SwiftTrainRunner.run(Self.common + ["--simulate-ranks", "4"])
        #expect(try SwiftTrainRunner.string(hosts, "parameters_sha256") == SwiftTrainRunner.string(simulated, "parameters_sha256"))
    }

    @Test("4 ranks on 2 hosts with --virtual-shards 4 give one process's bits")
    func virtualShardsAcrossHosts() throws {
        let arguments = [
            "--epochs", "2", "--no-progress", "--builtin-samples", "800", "--batch-size", "8", "--virtual-shards", "4",
            "--seed", "5", "--model", "mlp:32"
        ]
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

    @Test("host 2 killed mid-run: swift-train elastic continues on host 1 with 2 ranks and ends with the uninterrupted bits")
    func elasticLosesHost() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("elastic-hosts")
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoints = directory.appendingPathComponent("checkpoints")
        let training = [
            "--epochs", "3", "--virtual-shards", "4", "--batch-size", "8", "--builtin-samples", "1000", "--no-progress",
            "--model", "mlp:32", "--seed", "5"
        ]
        // Rank 2 (host 2) stops at iteration 12, after the checkpoint of iteration 12: the moment the host is killed.
        let arguments =
            [
                "elastic", "--hostfile", hostfile, "--launcher", "bash \(tool) mpirun", "--max-restarts", "2",
                "--min-ranks", "2", "--probe-timeout", "15", "--"
            ]
            + training + ["--checkpoint-dir", checkpoints.path, "--checkpoint-every", "4", "--inject-fault", "hang:2:12"]
        var mpiEnvironment = ProcessRunner.mpiEnvironment
        mpiEnvironment["OMPI_MCA_rtc"] = "^hwloc"
        let elastic = try ProcessRunner.start(
            try ProcessRunner.executable("swift-train"), arguments, environment: mpiEnvironment,
            timeout: 240)
        let checkpoint = checkpoints.appendingPathComponent("checkpoint_12.safetensors").path
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline { usleep(100_000) }
        #expect(FileManager.default.fileExists(atPath: checkpoint), "no checkpoint 12 within 120 s")
        // The host dies: every process in its namespace killed, then its link down.
        _ = try ProcessRunner.run("bash", ["-c", "ip netns pids st-h2 | xargs -r kill -9; ip -n st-h2 link set eth0 down"], timeout: 30)
        let result = elastic.finish()
        #expect(result.exitCode == 0, "\(result.standardError.suffix(3000))")
        #expect(result.standardError.contains("10.77.0.12 is not usable now"), "\(result.standardError.suffix(3000))")
        #expect(result.standardError.contains("now 2 ranks on 10.77.0.11 (2 slots) (was 4)"))
        #expect(result.standardError.contains("resuming from \(checkpoint)"))
        #expect(try SwiftTrainRunner.number(result, "world_size") == 2)
        let uninterrupted = try SwiftTrainRunner.run(training)
        #expect(try SwiftTrainRunner.string(result, "parameters_sha256") == SwiftTrainRunner.string(uninterrupted, "parameters_sha256"))
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
