import Foundation
import TestSupport
import Testing

/// A one-node Slurm cluster on this machine (`launch/slurm-local up`: Debian's slurmctld, slurmd and munge),
/// started once when the tests are planned; nil when Slurm cannot be installed or started here.
enum SlurmCluster {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let configuration: String? = {
        guard
            let result = try? ProcessRunner.run(
                "bash", [repository.appendingPathComponent("launch/slurm-local").path, "up"],
                timeout: 300),
            result.exitCode == 0
        else { return nil }
        // Stopped when the test process ends, whatever order the tests ran in.
        atexit {
            _ = try? ProcessRunner.run("bash", [SlurmCluster.repository.appendingPathComponent("launch/slurm-local").path, "down"], timeout: 60)
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    /// The environment of a Slurm client: the cluster's configuration, the built swift-train on PATH, mpirun as root.
    static var environment: [String: String] {
        var environment = ProcessRunner.mpiEnvironment
        environment["SLURM_CONF"] = configuration
        environment["PATH"] = ProcessRunner.productsDirectory.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        return environment
    }
}

@Suite(
    "Slurm for real: sbatch, srun and the elastic supervisor in an allocation", .serialized,
    .enabled(if: SlurmCluster.configuration != nil, "skipped: a one-node Slurm cluster (launch/slurm-local up) cannot be started here"))
struct SlurmTests {
    static let training = [
        "--epochs", "3", "--virtual-shards", "4", "--batch-size", "8", "--builtin-samples", "1000",
        "--model", "mlp:32", "--seed", "5"
    ]

    func summary(_ log: URL) throws -> String {
        let text = try String(contentsOf: log, encoding: .utf8)
        return try #require(text.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init), "no summary in \(text.suffix(2000))")
    }

    func field(_ key: String, _ json: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return "\(object?[key] ?? "missing")"
    }

    @Test("sbatch of launch/slurm.example.sbatch and srun --mpi=pmix of 2 ranks end with one process's parameters")
    func batchAndStep() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("slurm")
        defer { try? FileManager.default.removeItem(at: directory) }
        let single = try SwiftTrainRunner.run(Self.training + ["--no-progress"])
        let expected = try SwiftTrainRunner.string(single, "parameters_sha256")
        let log = directory.appendingPathComponent("batch.log")
        let batch = try ProcessRunner.run(
            "sbatch",
            [
                "--wait", "--nodes=1", "--ntasks-per-node=2", "--output=\(log.path)",
                SlurmCluster.repository.appendingPathComponent("launch/slurm.example.sbatch").path
            ]
                + Self.training, environment: SlurmCluster.environment, currentDirectory: directory, timeout: 240)
        #expect(batch.exitCode == 0, "\(batch.standardError) \((try? String(contentsOf: log, encoding: .utf8))?.suffix(2000) ?? "")")
        let batchSummary = try summary(log)
        #expect(try field("parameters_sha256", batchSummary) == expected)
        #expect(try field("world_size", batchSummary) == "2")

        let step = try ProcessRunner.run(
            "srun",
            ["-n", "2", "--mpi=pmix", try ProcessRunner.executable("swift-train"), "--no-progress"]
                + Self.training, environment: SlurmCluster.environment, currentDirectory: directory, timeout: 240)
        #expect(step.exitCode == 0, "\(step.standardError.suffix(2000))")
        #expect(try SwiftTrainRunner.string(step, "parameters_sha256") == expected)
        #expect(try SwiftTrainRunner.number(step, "world_size") == 2)
    }

    @Test("swift-train elastic inside an allocation: rank 1 killed mid-run, the job restarts from the checkpoint and ends with one process's bits")
    func elasticInAllocation() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("slurm-elastic")
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoints = directory.appendingPathComponent("checkpoints")
        let log = directory.appendingPathComponent("elastic.log")
        let arguments =
            [
                "--wait", "--nodes=1", "--ntasks-per-node=2", "--output=\(log.path)",
                SlurmCluster.repository.appendingPathComponent("launch/slurm-elastic.example.sbatch").path
            ]
            + Self.training + ["--checkpoint-dir", checkpoints.path, "--checkpoint-every", "4", "--inject-fault", "hang:1:12"]
        let batch = try ProcessRunner.start(
            "sbatch", arguments, environment: SlurmCluster.environment, currentDirectory: directory,
            timeout: 300)
        let checkpoint = checkpoints.appendingPathComponent("checkpoint_12.safetensors").path
        let deadline = Date().addingTimeInterval(180)
        while !FileManager.default.fileExists(atPath: checkpoint) && Date() < deadline { usleep(100_000) }
        #expect(FileManager.default.fileExists(atPath: checkpoint), "no checkpoint 12 within 180 s")
        // Rank 1 of this job (found by its checkpoint directory on the command line) dies.
        let kill = """
            for p in $(pgrep -x swift-train); do
              tr '\\0' ' ' < /proc/$p/cmdline | grep -q -- '\(checkpoints.path)' || continue
              tr '\\0' '\\n' < /proc/$p/environ | grep -qx 'OMPI_COMM_WORLD_RANK=1' && kill -9 $p
            done
            """
        _ = try ProcessRunner.run("bash", ["-c", kill], timeout: 30)
        let result = batch.finish()
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(result.exitCode == 0, "\(result.standardError) \(text.suffix(3000))")
        #expect(text.contains("swift-train elastic: starting 2 ranks on"), "\(text.suffix(3000))")
        #expect(text.contains("restart 1 of 3 after: exit code"), "\(text.suffix(3000))")
        #expect(text.contains("resuming from \(checkpoint)"))
        let single = try SwiftTrainRunner.run(Self.training + ["--no-progress"])
        #expect(try field("parameters_sha256", try summary(log)) == SwiftTrainRunner.string(single, "parameters_sha256"))
    }
}
