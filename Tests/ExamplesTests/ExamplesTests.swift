import Foundation
import TestSupport
import Testing

/// Runs every example of `Examples/` as a user would: the built executables, checking what they print.
@Suite("The examples run and do what the README says")
struct ExamplesTests {
    static func run(_ product: String, _ arguments: [String] = []) throws -> ProcessResult {
        var environment = ProcessRunner.mpiEnvironment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        return try ProcessRunner.run(try ProcessRunner.executable(product), arguments, environment: environment, timeout: 300)
    }

    static func number(after prefix: String, in text: String) -> Double? {
        guard let range = text.range(of: prefix) else { return nil }
        return Double(text[range.upperBound...].prefix { !$0.isWhitespace })
    }

    @Test("the seed's trainer and evaluator print per-epoch results and learn the glyphs")
    func seedTrainer() throws {
        let result = try Self.run("example-seed-trainer", ["3"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("Validation Results - Epoch: 3"))
        #expect((Self.number(after: "final validation accuracy ", in: result.standardOutput) ?? 0) > 0.7)
    }

    @Test("a custom TensorLayer and a custom loss regress digit values from the CSV")
    func customRegression() throws {
        let csv = ProcessRunner.sharedDirectory.appendingPathComponent("data/digits.csv").path
        let result = try Self.run("example-custom-regression", [csv, "20"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("0.scale 0.shift 1.weight 1.bias 3.0.weight 3.0.bias 4.weight 4.bias"))
        #expect((Self.number(after: "test_r2 ", in: result.standardOutput) ?? 0) > 0.7)
    }

    @Test("a user's own process function trains data-parallel under mpirun -n 2 with ranks identical")
    func dataParallelLoop() throws {
        let alone = try Self.run("example-data-parallel-loop")
        #expect(alone.exitCode == 0, "\(alone.standardError)")
        #expect(alone.standardOutput.contains("on 1 rank(s)") && alone.standardOutput.contains("ranks identical"))
        let result = try ProcessRunner.mpirun(ranks: 2, product: "example-data-parallel-loop", [])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("epoch 4:") && result.standardOutput.contains("on 2 rank(s)"))
        #expect(result.standardOutput.contains("ranks identical after"))
        #expect((Self.number(after: "test accuracy ", in: result.standardOutput.components(separatedBy: "epoch 4:").last!) ?? 0) > 0.6)
    }

    @Test("Checkpoint and DiskSaver: a run stopped after epoch 2 and resumed ends with the uninterrupted run's bits")
    func checkpointResume() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("example-checkpoint")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Self.run("example-checkpoint-resume", [directory.appendingPathComponent("run").path])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("resuming from checkpoint_50.safetensors at epoch 2, iteration 50"))
        #expect(result.standardOutput.contains("bit for bit: true"))
        // 400 samples, 2 ranks x 16 per step: 13 iterations per epoch; epochs 3 and 4 follow the one-rank run's 2.
        #expect(result.standardOutput.contains("continued on 2 ranks: epochs 3 and 4 of 13 iterations, ending at iteration 52; ranks agree: true"))
    }

    @Test("the README shows the seed trainer and the world-size-invariant example exactly as they are built")
    func readmeIsTheExamples() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for example in ["SeedTrainer", "WorldSizeInvariant", "CharLSTM", "TinyGPT", "BatchNormCNN", "TinyTransformer"] {
            let code = try String(contentsOf: root.appendingPathComponent("Examples/\(example)/main.swift"), encoding: .utf8)
            #expect(readme.contains(code), "README.md no longer holds Examples/\(example)/main.swift as it is")
        }
    }

    @Test("virtual shards: alone, mpirun -n 2 and mpirun -n 4 print the same parameter digest")
    func worldSizeInvariant() throws {
        let alone = try Self.run("example-world-size-invariant")
        #expect(alone.exitCode == 0, "\(alone.standardError)")
        let digest = try #require(alone.standardOutput.components(separatedBy: "parameter digest ").last)
        #expect(alone.standardOutput.contains("on 1 rank(s)"))
        #expect((Self.number(after: "test accuracy ", in: alone.standardOutput) ?? 0) > 0.5)
        for ranks in [2, 4] {
            let cluster = try ProcessRunner.mpirun(ranks: ranks, product: "example-world-size-invariant", [])
            #expect(cluster.exitCode == 0, "\(cluster.standardError)")
            #expect(cluster.standardOutput.contains("on \(ranks) rank(s)"))
            #expect(cluster.standardOutput.components(separatedBy: "parameter digest ").last == digest, "mpirun -n \(ranks)")
        }
    }

    @Test("a model written as differentiable Swift trains in the library's engine to a good accuracy")
    func differentiableModel() throws {
        let result = try Self.run("example-differentiable-model", ["3"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("parameters: input.weight input.bias block.weight block.bias head.weight head.bias"))
        let accuracy = Self.number(after: "epoch 3: test accuracy ", in: result.standardOutput) ?? 0
        #expect(accuracy > 0.8, "\(result.standardOutput)")
    }

    @Test("a CNN with batch norm trains, and its checkpoint restores the running statistics: the same accuracy")
    func batchNormCNN() throws {
        let result = try Self.run("example-batch-norm-cnn", ["6"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("buffers: norm1.runningMean norm1.runningVariance norm2.runningMean norm2.runningVariance"))
        let restored = Self.number(after: "restored accuracy ", in: result.standardOutput)
        let original = Self.number(after: " original ", in: result.standardOutput)
        #expect(restored != nil && restored == original, "\(result.standardOutput)")
        #expect((original ?? 0) > 0.8, "\(result.standardOutput)")
    }

    @Test("a one-block causal transformer learns its text and continues the prompt")
    func tinyTransformer() throws {
        let result = try Self.run("example-tiny-transformer", ["8"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect((Self.number(after: "epoch 8: loss ", in: result.standardOutput) ?? 9) < 0.2, "\(result.standardOutput)")
        #expect(result.standardOutput.contains("sample: the quick brown fox jumps over the lazy dog."), "\(result.standardOutput)")
    }

    @Test("a character LSTM trained with truncated BPTT reports its chunks, reaches a low bits-per-byte and writes the text")
    func charLSTM() throws {
        let result = try Self.run("example-char-lstm", ["20"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("time iteration 40: chunk loss"), "the handler on the time-iteration event ran")
        #expect((Self.number(after: "epoch 20: validation bits per byte ", in: result.standardOutput) ?? 9) < 0.5, "\(result.standardOutput)")
        #expect(result.standardOutput.contains("sample: the cat sat on the"), "\(result.standardOutput)")
    }

    @Test("a small GPT trains alone and under mpirun -n 2, then samples the same seeded continuation")
    func tinyGPT() throws {
        let alone = try Self.run("example-tiny-gpt")
        #expect(alone.exitCode == 0, "\(alone.standardError)")
        #expect((Self.number(after: "epoch 40: loss ", in: alone.standardOutput) ?? 9) < 0.2, "\(alone.standardOutput)")
        #expect(alone.standardOutput.contains("ranks 1 sample: to be, or not to be, that is the question."), "\(alone.standardOutput)")
        let pair = try ProcessRunner.mpirun(ranks: 2, product: "example-tiny-gpt", [])
        #expect(pair.exitCode == 0, "\(pair.standardError)")
        #expect((Self.number(after: "epoch 40: loss ", in: pair.standardOutput) ?? 9) < 0.2, "\(pair.standardOutput)")
        #expect(pair.standardOutput.contains("ranks 2 sample: to be, or not to be, that is the question."), "\(pair.standardOutput)")
    }
}
