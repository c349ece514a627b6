import Foundation
import TestSupport
import Testing

/// `--model resmlp:WIDTH,BLOCKS`: a residual MLP written as differentiable Swift, trained like a built-in model.
@Suite("A differentiable model through the command line", .serialized)
struct DifferentiableModelTests {
    static let common = ["--no-progress", "--model", "resmlp:32,2", "--builtin-samples", "600", "--epochs", "3", "--seed", "2"]

    @Test("it learns the built-in data as well as the built-in MLP")
    func accuracy() throws {
        let differentiable = try SwiftTrainRunner.run(Self.common + ["--epochs", "6"])
        let builtIn = try SwiftTrainRunner.run([
            "--no-progress", "--model", "mlp:32,32", "--builtin-samples", "600",
            "--epochs", "6", "--seed", "2"
        ])
        #expect(differentiable.exitCode == 0, "\(differentiable.standardError)")
        let ours = try SwiftTrainRunner.number(differentiable, "test_accuracy")
        let theirs = try SwiftTrainRunner.number(builtIn, "test_accuracy")
        #expect(ours > 0.85 && ours > theirs - 0.05, "resmlp \(ours), mlp \(theirs)")
    }

    @Test("mpirun -n 2 --deterministic equals --simulate-ranks 2 bit for bit, and a resumed run equals an uninterrupted one")
    func determinism() throws {
        let simulated = try SwiftTrainRunner.run(Self.common + ["--simulate-ranks", "2"])
        let distributed = try SwiftTrainRunner.mpirun(ranks: 2, Self.common + ["--deterministic"])
        #expect(distributed.exitCode == 0, "\(distributed.standardError.suffix(500))")
        #expect(try SwiftTrainRunner.string(simulated, "parameters_sha256") == SwiftTrainRunner.string(distributed, "parameters_sha256"))
        let directory = try ProcessRunner.makeTemporaryDirectory("resmlp")
        defer { try? FileManager.default.removeItem(at: directory) }
        let full = try SwiftTrainRunner.run(Self.common)
        let arguments = Self.common + ["--checkpoint-dir", directory.path, "--checkpoint-every", "10"]
        _ = try SwiftTrainRunner.run(arguments + ["--stop-after", "25"])
        let resumed = try SwiftTrainRunner.run(arguments + ["--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(500))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
    }
}
