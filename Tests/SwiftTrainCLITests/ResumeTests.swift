import Foundation
import TestSupport
import Testing

@Suite("Resuming from rank 0's checkpoint ends with the uninterrupted run's bits", .serialized)
struct ResumeTests {
    static let common = [
        "--epochs", "3", "--no-progress", "--builtin-samples", "600", "--batch-size", "16",
        "--checkpoint-every", "7", "--seed", "3", "--model", "mlp:32"
    ]

    enum Launch: CustomTestStringConvertible, Sendable {
        case single, simulated, mpirun
        var testDescription: String {
            switch self {
            case .single: "one process"
            case .simulated: "4 simulated ranks"
            case .mpirun: "mpirun -n 2"
            }
        }
    }

    func train(_ launch: Launch, _ arguments: [String]) throws -> ProcessResult {
        switch launch {
        case .single: try SwiftTrainRunner.run(arguments)
        case .simulated: try SwiftTrainRunner.run(arguments + ["--simulate-ranks", "4"])
        case .mpirun: try SwiftTrainRunner.mpirun(ranks: 2, arguments)
        }
    }

    @Test("stopped mid-epoch at iteration 17 and resumed with --resume auto", arguments: [Launch.single, .simulated, .mpirun])
    func resumeMidEpoch(launch: Launch) throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(at: directory) }
        let full = try train(launch, Self.common + ["--checkpoint-dir", directory.appendingPathComponent("full").path])
        #expect(full.exitCode == 0, "\(full.standardError.suffix(1500))")
        let checkpoints = directory.appendingPathComponent("stopped").path
        let stopped = try train(launch, Self.common + ["--checkpoint-dir", checkpoints, "--stop-after", "17"])
        #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.number(stopped, "iteration") == 17)
        let resumed = try train(launch, Self.common + ["--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
        #expect(resumed.standardError.contains("resuming from"))
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
        #expect(try SwiftTrainRunner.number(resumed, "iteration") == SwiftTrainRunner.number(full, "iteration"))
    }

    @Test(
        "a run with a moving schedule stopped mid-epoch resumes to the uninterrupted bits",
        arguments: ["warmup:5+cosine-restarts:8:2", "warmup:4+step:1:0.5", "cyclic:0.001:12"])
    func scheduleResumes(schedule: String) throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("schedule")
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = Self.common + ["--scheduler", schedule, "--log"]
        let full = try SwiftTrainRunner.run(
            base + [directory.appendingPathComponent("full.jsonl").path, "--checkpoint-dir", directory.appendingPathComponent("full").path])
        #expect(full.exitCode == 0, "\(full.standardError.suffix(1000))")
        let checkpoints = directory.appendingPathComponent("stopped").path
        let log = directory.appendingPathComponent("resumed.jsonl").path
        _ = try SwiftTrainRunner.run(base + [log, "--checkpoint-dir", checkpoints, "--stop-after", "45"])
        let resumed = try SwiftTrainRunner.run(base + [log, "--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
        // The rate moved: the log shows more than one learning rate.
        let rates = try String(contentsOfFile: directory.appendingPathComponent("full.jsonl").path, encoding: .utf8)
            .split(separator: "\n").compactMap { line -> String? in
                guard let range = line.range(of: "\"lr\":") else { return nil }
                return String(line[range.upperBound...].prefix { $0 != "," && $0 != "}" })
            }
        #expect(Set(rates).count > 3, "\(rates)")
    }

    @Test("early stopping's count of evaluations without improvement is saved: a resumed run stops where the uninterrupted one did")
    func earlyStoppingResumes() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("early-stopping")
        defer { try? FileManager.default.removeItem(at: directory) }
        // With this seed the test loss stops improving after iteration 15: three evaluations later (30) the run ends.
        let base = [
            "--no-progress", "--builtin-samples", "400", "--model", "mlp:32", "--epochs", "40", "--early-stopping", "3",
            "--eval-every", "5", "--lr", "0.5", "--seed", "3", "--checkpoint-every", "5"
        ]
        let full = try SwiftTrainRunner.run(base + ["--checkpoint-dir", directory.appendingPathComponent("full").path])
        #expect(full.exitCode == 0, "\(full.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.number(full, "epoch") < 40)
        let checkpoints = directory.appendingPathComponent("stopped").path
        // Stopped after two evaluations without improvement: the resumed run must count them.
        let stopped = try SwiftTrainRunner.run(base + ["--checkpoint-dir", checkpoints, "--stop-after", "25"])
        #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(1000))")
        let resumed = try SwiftTrainRunner.run(base + ["--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.number(resumed, "iteration") == SwiftTrainRunner.number(full, "iteration"))
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
    }

    @Test("--ema evaluates with the parameters' moving average without changing training; checkpoints carry it into a resume")
    func parameterAverage() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("ema")
        defer { try? FileManager.default.removeItem(at: directory) }
        let plain = try SwiftTrainRunner.run(Self.common + ["--checkpoint-dir", directory.appendingPathComponent("plain").path])
        let full = try SwiftTrainRunner.run(Self.common + ["--ema", "0.9", "--checkpoint-dir", directory.appendingPathComponent("full").path])
        #expect(full.exitCode == 0, "\(full.standardError.suffix(1000))")
        // The same training (bits), another evaluation: the average's.
        #expect(try SwiftTrainRunner.string(full, "parameters_sha256") == SwiftTrainRunner.string(plain, "parameters_sha256"))
        #expect(try SwiftTrainRunner.number(full, "test_loss") != SwiftTrainRunner.number(plain, "test_loss"))
        #expect(try SwiftTrainRunner.number(full, "test_accuracy") > 0.5)
        let checkpoints = directory.appendingPathComponent("stopped").path
        let stopped = try SwiftTrainRunner.run(Self.common + ["--ema", "0.9", "--checkpoint-dir", checkpoints, "--stop-after", "40"])
        #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(1000))")
        let resumed = try SwiftTrainRunner.run(Self.common + ["--ema", "0.9", "--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.number(resumed, "test_loss") == SwiftTrainRunner.number(full, "test_loss"))
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
        for bad in ["1", "0", "-0.5", "nan"] {
            let refused = try SwiftTrainRunner.run(["--no-progress", "--ema", bad])
            #expect(refused.exitCode == 2 && refused.standardError.contains("--ema"), "\(bad): \(refused.standardError)")
        }
    }

    @Test("a finished run resumed with a larger --epochs continues it; with no larger --epochs it is already complete")
    func continueFinishedRun() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("continue")
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = ["--no-progress", "--builtin-samples", "600", "--batch-size", "16", "--seed", "4", "--model", "mlp:32"]
        let straight = try SwiftTrainRunner.run(base + ["--epochs", "3"])
        let checkpoints = directory.appendingPathComponent("run").path
        let first = try SwiftTrainRunner.run(base + ["--epochs", "2", "--checkpoint-dir", checkpoints])
        #expect(first.exitCode == 0, "\(first.standardError.suffix(1000))")
        let continued = try SwiftTrainRunner.run(base + ["--epochs", "3", "--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(continued.exitCode == 0, "\(continued.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.number(continued, "epoch") == 3)
        #expect(try SwiftTrainRunner.number(continued, "iteration") == SwiftTrainRunner.number(straight, "iteration"))
        #expect(try SwiftTrainRunner.string(continued, "parameters_sha256") == SwiftTrainRunner.string(straight, "parameters_sha256"))
        for epochs in ["3", "2"] {
            let again = try SwiftTrainRunner.run(base + ["--epochs", epochs, "--checkpoint-dir", checkpoints, "--resume", "auto"])
            #expect(again.exitCode == 0, "\(again.standardError.suffix(1000))")
            #expect(again.standardError.contains("already complete"), "\(again.standardError.suffix(1000))")
            #expect(try SwiftTrainRunner.number(again, "iteration") == SwiftTrainRunner.number(straight, "iteration"))
            #expect(try SwiftTrainRunner.string(again, "parameters_sha256") == SwiftTrainRunner.string(straight, "parameters_sha256"))
        }
    }

    @Test("--checkpoint-every N also saves the final iteration; --checkpoint-every or --keep alone are usage errors")
    func checkpointEveryFinal() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("every")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try SwiftTrainRunner.run(Self.common + ["--checkpoint-dir", directory.path, "--keep", "5"])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(1000))")
        let iterations = Int(try SwiftTrainRunner.number(result, "iteration"))
        #expect(iterations % 7 != 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(files.contains("checkpoint_\(iterations).safetensors"), "\(files)")
        #expect(files.contains("checkpoint_\(iterations / 7 * 7).safetensors"), "\(files)")
        for flags in [["--checkpoint-every", "5"], ["--keep", "3"]] {
            let bad = try SwiftTrainRunner.run(["--no-progress"] + flags)
            #expect(bad.exitCode == 2)
            #expect(bad.standardError.contains("needs --checkpoint-dir"), "\(bad.standardError)")
        }
    }

    @Test("mpirun -n 2 with rank 1 killed by SIGKILL after the first checkpoint, then --resume auto")
    func killedThenResumed() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let full = try SwiftTrainRunner.mpirun(ranks: 2, Self.common + ["--checkpoint-dir", directory.appendingPathComponent("full").path])
        let checkpoints = directory.appendingPathComponent("killed").path
        let killed = try SwiftTrainRunner.mpirun(
            ranks: 2, Self.common + ["--checkpoint-dir", checkpoints, "--inject-fault", "kill:1:20"], timeout: 90)
        #expect(killed.exitCode != 0)
        #expect(!killed.timedOut)
        let resumed = try SwiftTrainRunner.mpirun(ranks: 2, Self.common + ["--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
    }

    @Test("--resume auto skips a corrupted newest checkpoint with a warning and uses the previous one")
    func corruptedNewest() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("corrupt")
        defer { try? FileManager.default.removeItem(at: directory) }
        let full = try SwiftTrainRunner.run(Self.common + ["--checkpoint-dir", directory.appendingPathComponent("full").path])
        let checkpoints = directory.appendingPathComponent("c")
        _ = try SwiftTrainRunner.run(Self.common + ["--checkpoint-dir", checkpoints.path, "--stop-after", "20"])
        let newest = try SafetensorsTestReader.newestCheckpoint(in: checkpoints)
        var bytes = try Data(contentsOf: newest)
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: newest)
        let resumed = try SwiftTrainRunner.run(Self.common + ["--checkpoint-dir", checkpoints.path, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
        #expect(resumed.standardError.contains("warning"), "\(resumed.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
    }

    @Test("a missing checkpoint, or one of another model, is refused with a clear error")
    func refusedCheckpoints() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("refuse")
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = try SwiftTrainRunner.run(["--no-progress", "--resume", directory.appendingPathComponent("nope.safetensors").path])
        #expect(missing.exitCode == 1)
        #expect(missing.standardError.contains("nope.safetensors"))
        _ = try SwiftTrainRunner.run(Self.common + ["--checkpoint-dir", directory.path, "--stop-after", "7"])
        let other = try SwiftTrainRunner.run([
            "--no-progress", "--builtin-samples", "600", "--model", "mlp:8",
            "--checkpoint-dir", directory.path, "--resume", "auto"
        ])
        #expect(other.exitCode == 1)
        #expect(other.standardError.contains("--model is mlp:8 here, mlp:32 in the checkpoint"), "\(other.standardError.suffix(800))")
        #expect(other.standardError.split(separator: "\n").filter { $0.contains("error") }.count == 1)
    }
}

@Suite("Resuming on another world size", .serialized)
struct WorldSizeResumeTests {
    @Test("a run of 2 ranks stopped mid-epoch resumes on 4 simulated ranks and on 1 process, finishing the run")
    func changeWorldSize() throws {
        let common = [
            "--epochs", "2", "--no-progress", "--builtin-samples", "600", "--batch-size", "16", "--checkpoint-every", "5",
            "--seed", "3", "--model", "mlp:32"
        ]
        for (resumeArguments, label) in [(["--simulate-ranks", "4"], "4 simulated ranks"), ([], "one process")] {
            let directory = try ProcessRunner.makeTemporaryDirectory("reshard")
            defer { try? FileManager.default.removeItem(at: directory) }
            let stopped = try SwiftTrainRunner.mpirun(ranks: 2, common + ["--checkpoint-dir", directory.path, "--stop-after", "22"])
            #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(1000))")
            let resumed = try SwiftTrainRunner.run(common + resumeArguments + ["--checkpoint-dir", directory.path, "--resume", "auto"])
            #expect(resumed.exitCode == 0, "\(label): \(resumed.standardError.suffix(1000))")
            // 480 training samples: epoch 1 on 2 ranks x 16 is 15 iterations; the checkpoint at 20 is 5 batches
            // (160 samples) into epoch 2, which continues with the remaining 320 samples.
            #expect(resumed.standardError.contains("continuing epoch 2"), "\(resumed.standardError)")
            #expect(resumed.standardError.contains("after its first 160 samples"), "\(resumed.standardError)")
            #expect(try SwiftTrainRunner.number(resumed, "epoch") == 2)
            #expect(try SwiftTrainRunner.number(resumed, "test_accuracy") > 0.5)
        }
    }
}
