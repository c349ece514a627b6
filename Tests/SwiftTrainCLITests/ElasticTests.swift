import ChildProcesses
import Foundation
import TestSupport
import Testing

@Suite("swift-train elastic: restarts on the ranks that are left, with the same bits", .serialized)
struct ElasticTests {
    static let training = [
        "--epochs", "3", "--virtual-shards", "4", "--batch-size", "8", "--builtin-samples", "1000", "--no-progress",
        "--model", "mlp:32", "--seed", "5"
    ]

    @Test("rank 2 of 4 killed: the job restarts on the 2 slots the discovery script still offers and ends with one process's bits")
    func restartOnFewerRanks() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("elastic")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A discovery script offering 4 slots the first time and 2 afterwards (a machine that lost half its slots).
        let script = directory.appendingPathComponent("discover.sh")
        try """
        #!/bin/sh
        if [ -f "\(directory.path)/discovered" ]; then echo localhost:2; else touch "\(directory.path)/discovered"; echo localhost:4; fi
        """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let checkpoints = directory.appendingPathComponent("checkpoints").path
        let elastic = try SwiftTrainRunner.run(
            ["elastic", "--discovery-script", script.path, "--max-restarts", "2", "--min-ranks", "2", "--"]
                + Self.training + [
                    "--checkpoint-dir", checkpoints, "--checkpoint-every", "4",
                    "--inject-fault", "kill:2:10"
                ])
        #expect(elastic.exitCode == 0, "\(elastic.standardError.suffix(2000))")
        #expect(elastic.standardError.contains("starting 4 ranks on localhost (4 slots)"))
        #expect(elastic.standardError.contains("restart 1 of 2 after: exit code"), "\(elastic.standardError.suffix(2000))")
        #expect(elastic.standardError.contains("now 2 ranks on localhost (2 slots) (was 4)"))
        #expect(elastic.standardError.contains("resuming from"))
        #expect(try SwiftTrainRunner.number(elastic, "world_size") == 2)
        let uninterrupted = try SwiftTrainRunner.run(Self.training)
        #expect(try SwiftTrainRunner.string(elastic, "parameters_sha256") == SwiftTrainRunner.string(uninterrupted, "parameters_sha256"))
    }

    @Test("a rank that fails every time exhausts --max-restarts: one clear message and exit 1")
    func restartsExhausted() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("elastic-fail")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try SwiftTrainRunner.run(
            ["elastic", "--slots", "2", "--max-restarts", "2", "--"] + Self.training
                + ["--checkpoint-dir", directory.path, "--checkpoint-every", "4", "--inject-fault", "throw:1:6"])
        #expect(result.exitCode == 1)
        #expect(result.standardError.contains("restart 2 of 2"), "\(result.standardError.suffix(2000))")
        #expect(
            result.standardError.contains(
                "swift-train: error: the job failed 3 times, more than --max-restarts 2 allows; last failure: exit code 1 (rank 1: injected fault on rank 1 at iteration 6)"
            ),
            "\(result.standardError.suffix(2000))")
        #expect(!result.standardError.contains("restart 3"))
    }

    @Test("SIGTERM to the supervisor stops the job it runs (mpirun behind a wrapper script), with no restart, and leaves no rank behind")
    func stopSignal() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("elastic-stop")
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoints = directory.appendingPathComponent("checkpoints")
        // mpirun behind a wrapper script that does not exec it: the signal must reach the wrapper's whole group.
        let wrapper = directory.appendingPathComponent("wrapper.sh")
        try "#!/bin/sh\nmpirun \"$@\"\n".write(to: wrapper, atomically: true, encoding: .utf8)
        let running = try ProcessRunner.start(
            try ProcessRunner.executable("swift-train"),
            [
                "elastic", "--slots", "2", "--launcher", "sh \(wrapper.path)", "--", "--epochs", "1000", "--virtual-shards", "4",
                "--batch-size", "8", "--builtin-samples", "2000", "--no-progress", "--model", "mlp:64",
                "--checkpoint-dir", checkpoints.path, "--checkpoint-every", "20"
            ],
            environment: ProcessRunner.mpiEnvironment)
        let supervisor = running.child
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, ((try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []).isEmpty {
            usleep(100_000)
        }
        supervisor.signal(SIGTERM)
        let termination = supervisor.wait(timeout: 30)
        if termination == nil { supervisor.stop(grace: 5) }
        let text = running.finish().standardError
        #expect(termination != nil, "the supervisor did not stop within 30 s of SIGTERM: \(text.suffix(1500))")
        #expect(termination == .exited(1))
        #expect(text.contains("stopped by SIGTERM, passed on to the job; no restart"), "\(text.suffix(1500))")
        #expect(!text.contains("restart 1"))
        let left = try ProcessRunner.run("bash", ["-c", "pgrep -f -- '[-]-checkpoint-dir \(checkpoints.path)' || true"], timeout: 30)
        #expect(left.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "ranks left: \(left.standardOutput)")
    }

    @Test("an elastic job needs --checkpoint-dir, adds --resume itself and refuses bad host lists")
    func usageErrors() throws {
        let noDirectory = try SwiftTrainRunner.run(["elastic", "--"] + Self.training)
        #expect(noDirectory.exitCode == 2)
        #expect(noDirectory.standardError.contains("needs --checkpoint-dir"), "\(noDirectory.standardError)")
        let resume = try SwiftTrainRunner.run(["elastic", "--", "--checkpoint-dir", "/tmp/x", "--resume", "auto"])
        #expect(resume.exitCode == 2)
        #expect(resume.standardError.contains("leave --resume out"))
        let directory = try ProcessRunner.makeTemporaryDirectory("elastic-hosts")
        defer { try? FileManager.default.removeItem(at: directory) }
        let hostfile = directory.appendingPathComponent("hosts")
        try "node1 slots=2\nnode2 slots=x\n".write(to: hostfile, atomically: true, encoding: .utf8)
        let bad = try SwiftTrainRunner.run(["elastic", "--hostfile", hostfile.path, "--", "--checkpoint-dir", directory.path])
        #expect(bad.exitCode == 1)
        #expect(bad.standardError.contains("line 2 'node2 slots=x' is not a host"), "\(bad.standardError)")
        let noLauncher = try SwiftTrainRunner.run([
            "elastic", "--hostfile", hostfile.path, "--launcher", "no-such-mpirun --x", "--",
            "--checkpoint-dir", directory.path
        ])
        #expect(noLauncher.exitCode == 2)
        #expect(noLauncher.standardError.contains("the launcher 'no-such-mpirun' is not an executable"), "\(noLauncher.standardError)")
        let badTraining = try SwiftTrainRunner.run(["elastic", "--", "--checkpoint-dir", directory.path, "--epochs", "0"])
        #expect(badTraining.exitCode == 2)
        #expect(badTraining.standardError.contains("--epochs"))
    }
}
