import Foundation
import TestSupport
import Testing

@Suite("--virtual-shards: the same final parameters for every world size", .serialized)
struct VirtualShardsCLITests {
    static let plain = [
        "--epochs", "2", "--no-progress", "--builtin-samples", "700", "--batch-size", "8", "--seed", "6",
        "--model", "mlp:32,16", "--scheduler", "warmup-cosine:6", "--clip-grad-norm", "2"
    ]
    static let common = plain + ["--virtual-shards", "8"]

    @Test("one process, --simulate-ranks 2/4/8, mpirun -n 2 and mpirun -n 4 end with the same parameters and test metrics")
    func sameBitsEverywhere() throws {
        let single = try SwiftTrainRunner.run(Self.common)
        #expect(single.exitCode == 0, "\(single.standardError.suffix(1500))")
        let expected = try SwiftTrainRunner.string(single, "parameters_sha256")
        for ranks in [2, 4, 8] {
            let simulated = try SwiftTrainRunner.run(Self.common + ["--simulate-ranks", "\(ranks)"])
            #expect(simulated.exitCode == 0, "\(simulated.standardError.suffix(1500))")
            #expect(try SwiftTrainRunner.string(simulated, "parameters_sha256") == expected, "--simulate-ranks \(ranks)")
            for metric in ["test_accuracy", "test_loss"] {
                #expect(try SwiftTrainRunner.number(simulated, metric) == SwiftTrainRunner.number(single, metric), "\(metric)")
            }
        }
        for ranks in [2, 4] {
            let cluster = try SwiftTrainRunner.mpirun(ranks: ranks, Self.common)
            #expect(cluster.exitCode == 0, "\(cluster.standardError.suffix(1500))")
            #expect(try SwiftTrainRunner.string(cluster, "parameters_sha256") == expected, "mpirun -n \(ranks)")
            #expect(try SwiftTrainRunner.number(cluster, "world_size") == Double(ranks))
            #expect(try SwiftTrainRunner.number(cluster, "test_loss") == SwiftTrainRunner.number(single, "test_loss"))
        }
        // Without virtual shards the world size changes the numbers: the test above is not vacuous.
        let one = try SwiftTrainRunner.run(Self.plain)
        let two = try SwiftTrainRunner.run(Self.plain + ["--simulate-ranks", "2"])
        #expect(try SwiftTrainRunner.string(one, "parameters_sha256") != SwiftTrainRunner.string(two, "parameters_sha256"))
    }

    @Test("1, 2 and 4 compute threads end with the same bits, with virtual shards and in the default mode (products cut by shape)")
    func sameBitsOnEveryThreadCount() throws {
        let model = ["--epochs", "1", "--no-progress", "--builtin-samples", "1000", "--batch-size", "64", "--model", "mlp:512,512"]
        for arguments in [model + ["--virtual-shards", "8"], model] {
            var digests: [String] = []
            for threads in [1, 2, 4] {
                let run = try SwiftTrainRunner.run(arguments + ["--threads", "\(threads)"])
                #expect(run.exitCode == 0, "\(run.standardError.suffix(1500))")
                digests.append(try SwiftTrainRunner.string(run, "parameters_sha256"))
            }
            #expect(Set(digests).count == 1, "\(arguments): \(digests)")
        }
    }

    @Test("a regression's test MSE, MAE and R² are the same bits on 1 and 4 ranks too")
    func regressionMetrics() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("shards-regression")
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("values.csv")
        var lines = ["a,b,c,y"]
        for row in 0..<500 {
            let a = Double(row % 17) / 17
            let b = Double(row % 7) / 7
            let c = Double(row % 11) / 11
            lines.append("\(a),\(b),\(c),\(3 * a - 2 * b + c * c + 0.5)")
        }
        try lines.joined(separator: "\n").write(to: csv, atomically: true, encoding: .utf8)
        let arguments = [
            "--data", "csv:\(csv.path)", "--task", "regression", "--epochs", "3", "--batch-size", "4", "--virtual-shards", "4",
            "--no-progress", "--model", "mlp:16", "--lr", "0.02"
        ]
        let single = try SwiftTrainRunner.run(arguments)
        #expect(single.exitCode == 0, "\(single.standardError.suffix(1500))")
        let simulated = try SwiftTrainRunner.run(arguments + ["--simulate-ranks", "4"])
        for key in ["test_mse", "test_mae", "test_r2", "test_loss"] {
            #expect(try SwiftTrainRunner.number(simulated, key) == SwiftTrainRunner.number(single, key), "\(key)")
        }
        #expect(try SwiftTrainRunner.string(simulated, "parameters_sha256") == SwiftTrainRunner.string(single, "parameters_sha256"))
    }

    @Test("a run checkpointed on 4 ranks and resumed on 2 ends with the uninterrupted run's bits")
    func resumeOnFewerRanks() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("shards-resume")
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = Self.common + ["--checkpoint-every", "5", "--checkpoint-dir", directory.path]
        let uninterrupted = try SwiftTrainRunner.run(Self.common)
        let stopped = try SwiftTrainRunner.mpirun(ranks: 4, arguments + ["--stop-after", "12"])
        #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.number(stopped, "iteration") == 12)
        let resumed = try SwiftTrainRunner.mpirun(ranks: 2, arguments + ["--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
        #expect(resumed.standardError.contains("resuming from"), "\(resumed.standardError.suffix(800))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(uninterrupted, "parameters_sha256"))
        #expect(try SwiftTrainRunner.number(resumed, "iteration") == SwiftTrainRunner.number(uninterrupted, "iteration"))
        // `evaluate` of the final checkpoint is shard by shard too: the same metrics alone and on 2 or 4 ranks.
        let final = try SwiftTrainRunner.string(resumed, "checkpoint")
        let alone = try SwiftTrainRunner.run(["evaluate", "--checkpoint", final])
        #expect(alone.exitCode == 0, "\(alone.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.number(alone, "test_loss") == SwiftTrainRunner.number(uninterrupted, "test_loss"))
        for ranks in [2, 4] {
            let cluster = try SwiftTrainRunner.mpirun(ranks: ranks, ["evaluate", "--checkpoint", final])
            #expect(cluster.exitCode == 0, "\(cluster.standardError.suffix(1500))")
            #expect(try SwiftTrainRunner.number(cluster, "test_loss") == SwiftTrainRunner.number(alone, "test_loss"), "\(ranks) ranks")
        }
    }

    @Test("a virtual-shard checkpoint resumed without virtual shards (and with --overlap) goes on, saying so")
    func resumeWithoutShards() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("shards-switch")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try SwiftTrainRunner.run(Self.common + ["--checkpoint-dir", directory.path])
        #expect(first.exitCode == 0, "\(first.standardError.suffix(1500))")
        var plain = Self.plain
        plain[plain.firstIndex(of: "--epochs")! + 1] = "3"
        let resumed = try SwiftTrainRunner.mpirun(ranks: 2, plain + ["--overlap", "--checkpoint-dir", directory.path, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
        #expect(
            resumed.standardError.contains("the checkpoint was written with --virtual-shards 8 and this run uses no virtual shards"),
            "\(resumed.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.number(resumed, "epoch") == 3)
    }

    @Test("a shard count that is not a power of two, or that the world does not divide, is one clear error")
    func badLayouts() throws {
        let notPower = try SwiftTrainRunner.run(["--virtual-shards", "6", "--epochs", "1"])
        #expect(notPower.exitCode == 2)
        #expect(notPower.standardError.contains("--virtual-shards 6"), "\(notPower.standardError)")
        let overlap = try SwiftTrainRunner.run(["--virtual-shards", "4", "--overlap", "--epochs", "1"])
        #expect(overlap.exitCode == 2)
        #expect(overlap.standardError.contains("--overlap"), "\(overlap.standardError)")
        let uneven = try SwiftTrainRunner.mpirun(ranks: 4, ["--virtual-shards", "2", "--epochs", "1", "--no-progress"])
        #expect(uneven.exitCode != 0)
        #expect(uneven.standardError.contains("4 ranks cannot share 2 virtual shards evenly"), "\(uneven.standardError.suffix(800))")
        #expect(!uneven.standardError.contains("Fatal error"))
    }
}
