import Foundation
import Testing
import TestSupport

@Suite("--virtual-shards: the same final parameters for every world size", .serialized)
struct VirtualShardsCLITests {
    static let plain = ["--epochs", "2", "--no-progress", "--builtin-samples", "700", "--batch-size", "8", "--seed", "6",
                        "--model", "mlp:32,16"]
    static let common = plain + ["--virtual-shards", "8"]

    @Test("one process, --simulate-ranks 2/4/8, mpirun -n 2 and mpirun -n 4 end with the same parameters_sha256")
    func sameBitsEverywhere() throws {
        let single = try SwiftTrainRunner.run(Self.common)
        #expect(single.exitCode == 0, "\(single.standardError.suffix(1500))")
        let expected = try SwiftTrainRunner.string(single, "parameters_sha256")
        for ranks in [2, 4, 8] {
            let simulated = try SwiftTrainRunner.run(Self.common + ["--simulate-ranks", "\(ranks)"])
            #expect(simulated.exitCode == 0, "\(simulated.standardError.suffix(1500))")
            #expect(try SwiftTrainRunner.string(simulated, "parameters_sha256") == expected, "--simulate-ranks \(ranks)")
            #expect(try SwiftTrainRunner.number(simulated, "test_accuracy") == SwiftTrainRunner.number(single, "test_accuracy"))
        }
        for ranks in [2, 4] {
            let cluster = try SwiftTrainRunner.mpirun(ranks: ranks, Self.common)
            #expect(cluster.exitCode == 0, "\(cluster.standardError.suffix(1500))")
            #expect(try SwiftTrainRunner.string(cluster, "parameters_sha256") == expected, "mpirun -n \(ranks)")
            #expect(try SwiftTrainRunner.number(cluster, "world_size") == Double(ranks))
        }
        // Without virtual shards the world size changes the numbers: the test above is not vacuous.
        let one = try SwiftTrainRunner.run(Self.plain), two = try SwiftTrainRunner.run(Self.plain + ["--simulate-ranks", "2"])
        #expect(try SwiftTrainRunner.string(one, "parameters_sha256") != SwiftTrainRunner.string(two, "parameters_sha256"))
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
    }

    @Test("a shard count that is not a power of two, or that the world does not divide, is one clear error")
    func badLayouts() throws {
        let notPower = try SwiftTrainRunner.run(["--virtual-shards", "6", "--epochs", "1"])
        #expect(notPower.exitCode == 2)
        #expect(notPower.standardError.contains("--virtual-shards 6"), "\(notPower.standardError)")
        let threads = try SwiftTrainRunner.run(["--virtual-shards", "4", "--threads", "2", "--epochs", "1"])
        #expect(threads.exitCode == 2)
        let uneven = try SwiftTrainRunner.mpirun(ranks: 4, ["--virtual-shards", "2", "--epochs", "1", "--no-progress"])
        #expect(uneven.exitCode != 0)
        #expect(uneven.standardError.contains("4 ranks cannot share 2 virtual shards evenly"), "\(uneven.standardError.suffix(800))")
        #expect(!uneven.standardError.contains("Fatal error"))
    }
}
