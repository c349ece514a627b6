import Foundation
import TestSupport
import Testing

@Suite("Training across ranks under mpirun", .serialized)
struct DistributedTrainingTests {
    @Test("the default job under mpirun -n 2 trains every rank to the same parameters and a good accuracy")
    func defaultJob() throws {
        let result = try SwiftTrainRunner.mpirun(ranks: 2, ["--no-progress", "--check-consistency", "20"])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(2000))")
        #expect(try SwiftTrainRunner.number(result, "world_size") == 2)
        #expect(try SwiftTrainRunner.number(result, "test_accuracy") >= 0.9)
        #expect(try SwiftTrainRunner.string(result, "parameters_sha256").count == 64)
        #expect(result.standardOutput.split(separator: "\n").count == 1, "only rank 0 prints the summary")
    }

    struct Topology: CustomTestStringConvertible, Sendable {
        let ranks: Int
        let tcp: Bool
        var testDescription: String { "\(ranks) ranks over \(tcp ? "TCP sockets, all-reduce overlapped with backward" : "shared memory")" }
    }

    @Test(
        "N ranks end with the parameters of one process training on the same global batches (1e-5 relative)",
        arguments: [
            Topology(ranks: 2, tcp: false), Topology(ranks: 2, tcp: true), Topology(ranks: 4, tcp: false),
            Topology(ranks: 4, tcp: true)
        ])
    func equalsSingleProcess(topology: Topology) throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("equivalence")
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("data.csv")
        try SwiftTrainRunner.writeSyntheticCSV(rows: 640, to: csv)
        let common = [
            "--data", "csv:\(csv.path)", "--epochs", "2", "--no-progress", "--model", "mlp:16",
            "--lr", "0.05", "--seed", "7"
        ]
        let global = 64
        let single = try SwiftTrainRunner.run(
            common + [
                "--batch-size", "\(global)", "--checkpoint-dir",
                directory.appendingPathComponent("single").path
            ])
        #expect(single.exitCode == 0, "\(single.standardError.suffix(2000))")
        let cluster = try SwiftTrainRunner.mpirun(
            ranks: topology.ranks, tcp: topology.tcp,
            common + [
                "--batch-size", "\(global / topology.ranks)", "--check-consistency", "4", "--checkpoint-dir",
                directory.appendingPathComponent("cluster").path
            ] + (topology.tcp ? ["--overlap"] : []))
        #expect(cluster.exitCode == 0, "\(cluster.standardError.suffix(2000))")
        #expect(try SwiftTrainRunner.number(cluster, "iteration") == SwiftTrainRunner.number(single, "iteration"))
        let a = try SafetensorsTestReader.tensors(at: SafetensorsTestReader.newestCheckpoint(in: directory.appendingPathComponent("single")))
        let b = try SafetensorsTestReader.tensors(at: SafetensorsTestReader.newestCheckpoint(in: directory.appendingPathComponent("cluster")))
        #expect(try SafetensorsTestReader.maxRelativeDifference(a, b, prefix: "model.") <= 1e-5)
    }

    @Test("deterministic mode: mpirun -n 4 and --simulate-ranks 4 give the same bits; each mode repeats its bits")
    func deterministicMode() throws {
        let common = ["--epochs", "1", "--no-progress", "--builtin-samples", "800", "--deterministic", "--batch-size", "16"]
        let cluster = try SwiftTrainRunner.mpirun(ranks: 4, common)
        let simulated = try SwiftTrainRunner.run(common + ["--simulate-ranks", "4"])
        #expect(cluster.exitCode == 0 && simulated.exitCode == 0, "\(cluster.standardError.suffix(1500)) \(simulated.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.string(cluster, "parameters_sha256") == SwiftTrainRunner.string(simulated, "parameters_sha256"))
        let fast = ["--epochs", "1", "--no-progress", "--builtin-samples", "800", "--batch-size", "16"]
        let first = try SwiftTrainRunner.mpirun(ranks: 2, fast)
        let second = try SwiftTrainRunner.mpirun(ranks: 2, fast)
        #expect(try SwiftTrainRunner.string(first, "parameters_sha256") == SwiftTrainRunner.string(second, "parameters_sha256"))
    }

    @Test("a rank that throws ends the whole job promptly with a message naming it")
    func throwingRank() throws {
        let start = Date()
        let result = try SwiftTrainRunner.mpirun(ranks: 2, ["--no-progress", "--inject-fault", "throw:1:5"], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(!result.timedOut)
        #expect(Date().timeIntervalSince(start) < 30)
        #expect(result.standardError.contains("rank 1"), "\(result.standardError.suffix(1500))")
    }

    @Test("a rank killed by SIGKILL ends the whole job promptly")
    func killedRank() throws {
        let start = Date()
        let result = try SwiftTrainRunner.mpirun(ranks: 2, ["--no-progress", "--inject-fault", "kill:1:5"], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(!result.timedOut)
        #expect(Date().timeIntervalSince(start) < 30)
    }
}

/// Ranks with nothing to evaluate, and options that cannot apply to the data, found before training.
@Suite("Small data on many ranks", .serialized)
struct SmallDataTests {
    @Test("three ranks and two test samples: every rank evaluates (the empty one adds nothing), as simulated ranks do")
    func moreRanksThanTestRows() throws {
        let options = [
            "--no-progress", "--builtin-samples", "40", "--test-fraction", "0.05", "--epochs", "2", "--deterministic",
            "--model", "mlp:16"
        ]
        let real = try SwiftTrainRunner.mpirun(ranks: 3, options)
        #expect(real.exitCode == 0, "\(real.standardError.suffix(500))")
        let simulated = try SwiftTrainRunner.run(options + ["--simulate-ranks", "3"])
        #expect(try SwiftTrainRunner.number(real, "test_loss") == SwiftTrainRunner.number(simulated, "test_loss"))
        #expect(try SwiftTrainRunner.string(real, "parameters_sha256") == SwiftTrainRunner.string(simulated, "parameters_sha256"))
    }

    @Test("--save-best with a metric the task does not compute, and more virtual shards than samples, are refused at start")
    func inapplicableOptions() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("inapplicable")
        defer { try? FileManager.default.removeItem(at: directory) }
        let best = try SwiftTrainRunner.run(["--no-progress", "--builtin-samples", "300", "--save-best", "r2", "--checkpoint-dir", directory.path])
        #expect(best.exitCode != 0 && best.standardError.contains("invalid --save-best 'r2': expected a metric of this classification run"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        let started = Date()
        let shards = try SwiftTrainRunner.run(["--no-progress", "--builtin-samples", "300", "--virtual-shards", "65536", "--batch-size", "1"])
        #expect(shards.exitCode != 0 && shards.standardError.contains("at most the 240 training samples"), "\(shards.standardError)")
        #expect(Date().timeIntervalSince(started) < 20)
    }
}

@Suite("A stuck rank under a collective deadline")
struct CollectiveDeadlineTests {
    @Test("with --collective-timeout 3, a rank stuck for minutes makes the job end within seconds, naming a rank")
    func stuckRank() throws {
        let start = Date()
        let result = try SwiftTrainRunner.mpirun(
            ranks: 2,
            [
                "--no-progress", "--collective-timeout", "3",
                "--inject-fault", "hang:1:5"
            ], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(!result.timedOut)
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(result.standardError.contains("did not complete within 3 s"), "\(result.standardError.suffix(1500))")
        #expect(result.standardError.contains("rank 0"), "\(result.standardError.suffix(1500))")
    }
}
