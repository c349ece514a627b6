import Foundation
import TestSupport
import Testing

/// A scheduler's stop signal (Slurm's SIGTERM or SIGUSR1, Ctrl-C) ends a run after an iteration every rank agrees on,
/// rank 0 writes a checkpoint of it, the job says so and exits 128 + the signal, and `--resume auto` continues to the
/// same bits as a run never stopped.
@Suite("Preemption: stop signals checkpoint and resume exactly", .serialized)
struct PreemptionTests {
    static let options = [
        "--no-progress", "--builtin-samples", "800", "--model", "mlp:32", "--batch-size", "8",
        "--epochs", "50", "--checkpoint-every", "40", "--deterministic", "--stop-after", "2000"
    ]

    /// The parameters of the run never stopped, on `ranks` ranks.
    static func expectedParameters(ranks: Int = 1) throws -> String {
        let directory = try ProcessRunner.makeTemporaryDirectory("preempt-reference")
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = options + ["--checkpoint-dir", directory.path]
        let reference = ranks == 1 ? try SwiftTrainRunner.run(arguments) : try SwiftTrainRunner.mpirun(ranks: ranks, arguments)
        return try SwiftTrainRunner.string(reference, "parameters_sha256")
    }

    /// Checks the stopped run's message and exit, then resumes it and compares the final parameters.
    func expectResumable(
        _ stopped: ProcessResult, signal: Int32, name: String, directory: URL, expected: String,
        resume: ([String]) throws -> ProcessResult
    ) throws {
        #expect(stopped.exitCode == 128 + signal, "exit \(stopped.exitCode): \(stopped.standardError.suffix(800))")
        let line = stopped.standardError.split(separator: "\n").first { $0.contains("stopped by \(name)") }
        #expect(line?.contains("checkpoint \(directory.path)/checkpoint_") == true, "\(stopped.standardError.suffix(800))")
        #expect(line?.hasSuffix("written: continue with --resume auto") == true)
        #expect(!stopped.standardOutput.contains("parameters_sha256"), "no summary for a stopped run")
        let resumed = try resume(Self.options + ["--checkpoint-dir", directory.path, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(800))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == expected)
    }

    // The signal arrives a few milliseconds after the fault sends it (through the dispatch queue that catches it):
    // the runs go on to iteration 2000 so that it is there long before their end.
    @Test("one process: SIGTERM at iteration 100 stops it with a checkpoint; the resumed run ends with the same bits")
    func singleProcess() throws {
        let expected = try Self.expectedParameters()
        let directory = try ProcessRunner.makeTemporaryDirectory("preempt-one")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stopped = try SwiftTrainRunner.run(Self.options + ["--checkpoint-dir", directory.path, "--inject-fault", "term:0:100"])
        try expectResumable(stopped, signal: SIGTERM, name: "SIGTERM", directory: directory, expected: expected) {
            try SwiftTrainRunner.run($0)
        }
    }

    @Test("mpirun -n 2: SIGTERM reaching rank 1 alone stops both ranks after the same iteration; resume gives the same bits")
    func oneRankSignalled() throws {
        let expected = try Self.expectedParameters(ranks: 2)
        let directory = try ProcessRunner.makeTemporaryDirectory("preempt-rank")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stopped = try SwiftTrainRunner.mpirun(
            ranks: 2,
            Self.options + [
                "--checkpoint-dir", directory.path,
                "--inject-fault", "term:1:100"
            ])
        try expectResumable(stopped, signal: SIGTERM, name: "SIGTERM", directory: directory, expected: expected) {
            try SwiftTrainRunner.mpirun(ranks: 2, $0)
        }
    }

    @Test("SIGUSR1 to mpirun (the Slurm batch script's forward) reaches every rank and stops the job with exit 138")
    func usr1ThroughMPIRun() throws {
        let expected = try Self.expectedParameters(ranks: 2)
        let directory = try ProcessRunner.makeTemporaryDirectory("preempt-usr1")
        defer { try? FileManager.default.removeItem(at: directory) }
        let long = Self.options.map { $0 == "2000" ? "100000" : $0 }.map { $0 == "50" ? "1000" : $0 }
        let running = try ProcessRunner.start(
            "mpirun",
            ProcessRunner.mpirunArguments(ranks: 2)
                + [try ProcessRunner.executable("swift-train")] + long
                + ["--checkpoint-dir", directory.path],
            environment: ProcessRunner.mpiEnvironment, timeout: 300)
        // Once the first checkpoint is there, the run is under way: send the notice to mpirun only.
        // (Any checkpoint: older ones are removed as newer ones are kept.)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline,
            !((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).contains(where: { $0.hasPrefix("checkpoint_") })
        {
            usleep(20_000)
        }
        running.child.signal(SIGUSR1, group: false)
        let stopped = running.finish()
        #expect(stopped.exitCode == 138, "exit \(stopped.exitCode): \(stopped.standardError.suffix(800))")
        #expect(stopped.standardError.contains("stopped by SIGUSR1 after iteration"))
        // The resumed run goes to iteration 2000 of the same schedule only if it was stopped before it.
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("checkpoint_") }
        let newest = checkpoints.compactMap { Int($0.dropFirst("checkpoint_".count).dropLast(".safetensors".count)) }.max() ?? 0
        if newest < 2000 {
            let resumed = try SwiftTrainRunner.mpirun(ranks: 2, Self.options + ["--checkpoint-dir", directory.path, "--resume", "auto"])
            #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == expected, "\(resumed.standardError.suffix(500))")
        }
    }
}
