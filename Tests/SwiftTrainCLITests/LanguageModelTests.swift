import Foundation
import TestSupport
import Testing

/// `--data text:PATH`: language models on the command line, resumed exactly, and `generate`.
@Suite("Language models from the command line: train, resume, the same bits on any world size, generate", .serialized)
struct LanguageModelTests {
    /// A small text with structure to learn.
    static func writeText(in directory: URL) throws -> String {
        let url = directory.appendingPathComponent("text.txt")
        try String(repeating: "It was the best of times, it was the worst of times, it was the age of wisdom. ", count: 40)
            .write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static func common(_ text: String, _ model: String) -> [String] {
        [
            "--data", "text:" + text, "--model", model, "--context", "32", "--tbptt", "8", "--epochs", "2", "--batch-size", "8",
            "--optimizer", "adam", "--lr", "0.003", "--seed", "4", "--no-progress"
        ]
    }

    @Test(
        "an LSTM, a GRU and a GPT train on a text and report loss, perplexity, bits per byte and tokens/s",
        arguments: ["lstm:32", "gru:32,2", "gpt:1,32,4"])
    func trains(model: String) throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try SwiftTrainRunner.run(Self.common(try Self.writeText(in: directory), model))
        #expect(result.exitCode == 0, "\(result.standardError.suffix(1500))")
        #expect(result.standardError.contains("task: language model over the"), "said on standard error")
        let loss = try SwiftTrainRunner.number(result, "test_loss")
        #expect(loss < 4.5, "below a uniform guess (ln 256 = 5.5): \(loss)")
        #expect(abs(try SwiftTrainRunner.number(result, "test_perplexity") - Foundation.exp(loss)) < 1e-6 * Foundation.exp(loss))
        #expect(abs(try SwiftTrainRunner.number(result, "test_bits_per_byte") - loss / Foundation.log(2)) < 1e-9)
        #expect(try SwiftTrainRunner.number(result, "train_tokens_per_s") > 0)
        #expect(try SwiftTrainRunner.string(result, "task") == "language-model")
    }

    @Test("the run options work for language models: --eval-every, --save-best perplexity, early stopping, clipping, a schedule, TensorBoard")
    func runOptions() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-options")
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoints = directory.appendingPathComponent("ck")
        let board = directory.appendingPathComponent("tb")
        let result = try SwiftTrainRunner.run(
            Self.common(try Self.writeText(in: directory), "lstm:32") + [
                "--eval-every", "4", "--checkpoint-dir", checkpoints.path, "--save-best", "perplexity", "--early-stopping", "50",
                "--clip-grad-norm", "1", "--scheduler", "warmup-cosine:5", "--tensorboard", board.path, "--log",
                directory.appendingPathComponent("log.jsonl").path
            ])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(1500))")
        let files = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path)
        #expect(files.contains { $0.hasPrefix("best_") && $0.contains("perplexity=") }, "\(files)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: board.path).contains { $0.contains("tfevents") })
        let log = try String(contentsOf: directory.appendingPathComponent("log.jsonl"), encoding: .utf8)
        #expect(log.contains("test_perplexity"), "the evaluations are logged")
        let refused = try SwiftTrainRunner.run(
            Self.common(try Self.writeText(in: directory), "lstm:32")
                + ["--checkpoint-dir", checkpoints.path + "2", "--save-best", "accuracy"])
        #expect(refused.exitCode != 0 && refused.standardError.contains("loss, perplexity or bits_per_byte"), "\(refused.standardError)")
    }

    @Test("evaluate measures a recurrent language model's checkpoint as the run did")
    func evaluates() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-evaluate")
        defer { try? FileManager.default.removeItem(at: directory) }
        let trained = try SwiftTrainRunner.run(
            Self.common(try Self.writeText(in: directory), "lstm:32")
                + ["--checkpoint-dir", directory.appendingPathComponent("ck").path])
        #expect(trained.exitCode == 0, "\(trained.standardError.suffix(1500))")
        let evaluated = try SwiftTrainRunner.run(["evaluate", "--checkpoint", try SwiftTrainRunner.string(trained, "checkpoint")])
        #expect(evaluated.exitCode == 0, "\(evaluated.standardError.suffix(1500))")
        let (mine, theirs) = (try SwiftTrainRunner.number(evaluated, "test_loss"), try SwiftTrainRunner.number(trained, "test_loss"))
        #expect(abs(mine - theirs) < 1e-7 * theirs, "\(mine) vs \(theirs)")
        #expect(try SwiftTrainRunner.number(evaluated, "test_perplexity") > 1)
    }

    @Test("a truncated-BPTT run stopped mid-epoch resumes bit-identical: one process and mpirun -n 2")
    func resumes() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-resume")
        defer { try? FileManager.default.removeItem(at: directory) }
        let common = Self.common(try Self.writeText(in: directory), "lstm:32") + ["--checkpoint-every", "3"]
        for ranks in [1, 2] {
            func train(_ extra: [String]) throws -> ProcessResult {
                ranks == 1 ? try SwiftTrainRunner.run(common + extra) : try SwiftTrainRunner.mpirun(ranks: 2, common + extra)
            }
            let full = try train(["--checkpoint-dir", directory.appendingPathComponent("full\(ranks)").path])
            #expect(full.exitCode == 0, "\(full.standardError.suffix(1500))")
            let checkpoints = directory.appendingPathComponent("stopped\(ranks)").path
            let stopped = try train(["--checkpoint-dir", checkpoints, "--stop-after", "7"])
            #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(1500))")
            let resumed = try train(["--checkpoint-dir", checkpoints, "--resume", "auto"])
            #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
            #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"), "\(ranks) ranks")
        }
    }

    @Test("mpirun -n 2 with rank 1 killed by SIGKILL, then --resume auto: the uninterrupted run's bits")
    func killedThenResumed() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let common = Self.common(try Self.writeText(in: directory), "lstm:32") + ["--checkpoint-every", "3"]
        let full = try SwiftTrainRunner.mpirun(ranks: 2, common + ["--checkpoint-dir", directory.appendingPathComponent("full").path])
        let checkpoints = directory.appendingPathComponent("killed").path
        let killed = try SwiftTrainRunner.mpirun(ranks: 2, common + ["--checkpoint-dir", checkpoints, "--inject-fault", "kill:1:5"], timeout: 90)
        #expect(killed.exitCode != 0 && !killed.timedOut)
        let resumed = try SwiftTrainRunner.mpirun(ranks: 2, common + ["--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
        #expect(try SwiftTrainRunner.string(resumed, "parameters_sha256") == SwiftTrainRunner.string(full, "parameters_sha256"))
    }

    @Test(
        "with --virtual-shards 4 a GPT and an LSTM end with the same bits on 1 process, 2 simulated ranks and mpirun -n 2",
        arguments: ["gpt:1,32,4", "lstm:32"])
    func virtualShardsInvariant(model: String) throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-shards")
        defer { try? FileManager.default.removeItem(at: directory) }
        let common = Self.common(try Self.writeText(in: directory), model) + ["--virtual-shards", "4", "--batch-size", "2"]
        let alone = try SwiftTrainRunner.run(common)
        let simulated = try SwiftTrainRunner.run(common + ["--simulate-ranks", "2"])
        let pair = try SwiftTrainRunner.mpirun(ranks: 2, common)
        for result in [alone, simulated, pair] { #expect(result.exitCode == 0, "\(result.standardError.suffix(1500))") }
        let digest = try SwiftTrainRunner.string(alone, "parameters_sha256")
        #expect(try SwiftTrainRunner.string(simulated, "parameters_sha256") == digest)
        #expect(try SwiftTrainRunner.string(pair, "parameters_sha256") == digest)
        #expect(try SwiftTrainRunner.number(pair, "test_loss") == SwiftTrainRunner.number(alone, "test_loss"))
    }

    @Test("--micro-batches N splits each batch over model replicas: the same bits on 1 and 2 threads; 0 is refused")
    func microBatches() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-micro")
        defer { try? FileManager.default.removeItem(at: directory) }
        let common = Self.common(try Self.writeText(in: directory), "lstm:32") + ["--epochs", "1"]
        let one = try SwiftTrainRunner.run(common + ["--micro-batches", "2", "--threads", "1"])
        let two = try SwiftTrainRunner.run(common + ["--micro-batches", "2", "--threads", "2"])
        let whole = try SwiftTrainRunner.run(common + ["--micro-batches", "1", "--threads", "2"])
        for result in [one, two, whole] { #expect(result.exitCode == 0, "\(result.standardError.suffix(1500))") }
        let digest = try SwiftTrainRunner.string(one, "parameters_sha256")
        #expect(try SwiftTrainRunner.string(two, "parameters_sha256") == digest)
        #expect(try SwiftTrainRunner.string(whole, "parameters_sha256") != digest, "whole batches round differently")
        #expect(abs(try SwiftTrainRunner.number(whole, "test_loss") - SwiftTrainRunner.number(one, "test_loss")) < 1e-3)
        let refused = try SwiftTrainRunner.run(common + ["--micro-batches", "0"])
        #expect(refused.exitCode != 0 && refused.standardError.contains("--micro-batches"), "\(refused.standardError)")
        // A resume with another split goes on and says that the numbers take another path.
        let checkpoints = directory.appendingPathComponent("ck").path
        let first = try SwiftTrainRunner.run(common + ["--micro-batches", "2", "--checkpoint-dir", checkpoints])
        #expect(first.exitCode == 0, "\(first.standardError.suffix(1500))")
        let resumed = try SwiftTrainRunner.run(
            common + ["--micro-batches", "1", "--epochs", "2", "--checkpoint-dir", checkpoints, "--resume", "auto"])
        #expect(resumed.exitCode == 0, "\(resumed.standardError.suffix(1500))")
        #expect(resumed.standardError.contains("written with --micro-batches 2 and this run uses --micro-batches 1"), "\(resumed.standardError)")
    }

    @Test("generate continues a prompt; the same seed gives the same text; bad prompts and other checkpoints are refused")
    func generates() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-generate")
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoints = directory.appendingPathComponent("ck").path
        let trained = try SwiftTrainRunner.run(
            Self.common(try Self.writeText(in: directory), "gpt:1,32,4") + ["--epochs", "6", "--checkpoint-dir", checkpoints])
        let checkpoint = try SwiftTrainRunner.string(trained, "checkpoint")
        let arguments = ["generate", "--checkpoint", checkpoint, "--prompt", "it was the ", "--tokens", "20", "--temperature", "0.7", "--seed", "9"]
        let first = try SwiftTrainRunner.run(arguments)
        let second = try SwiftTrainRunner.run(arguments)
        #expect(first.exitCode == 0, "\(first.standardError)")
        #expect(first.standardOutput == second.standardOutput && first.standardOutput.utf8.count >= 20)
        let other = try SwiftTrainRunner.run(arguments.dropLast(2) + ["--seed", "10"])
        #expect(other.exitCode == 0)
        for (prompt, message) in [("", "the prompt is empty"), (String(repeating: "x", count: 40), "more than the model's context of 32")] {
            let bad = try SwiftTrainRunner.run(["generate", "--checkpoint", checkpoint, "--prompt", prompt])
            #expect(bad.exitCode != 0 && bad.standardError.contains(message), "\(bad.standardError)")
        }
        let classifier = try SwiftTrainRunner.run([
            "--epochs", "1", "--builtin-samples", "200", "--no-progress", "--checkpoint-dir",
            directory.appendingPathComponent("cls").path
        ])
        let refused = try SwiftTrainRunner.run(["generate", "--checkpoint", try SwiftTrainRunner.string(classifier, "checkpoint"), "--prompt", "a"])
        #expect(refused.exitCode != 0 && refused.standardError.contains("not a language model"), "\(refused.standardError)")
    }

    @Test("bad text input ends with one clear line: binary, empty, shorter than a window, --tbptt not dividing, wrong model")
    func badInput() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lm-bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        let binary = directory.appendingPathComponent("binary.bin")
        let empty = directory.appendingPathComponent("empty.txt")
        let short = directory.appendingPathComponent("short.txt")
        try Data([0x7F, 0x45, 0x4C, 0x46, 0, 1, 2]).write(to: binary)
        try Data().write(to: empty)
        try "abc".write(to: short, atomically: true, encoding: .utf8)
        let text = try Self.writeText(in: directory)
        let cases: [([String], String)] = [
            (["--data", "text:" + binary.path, "--model", "gpt:1,32,4"], "is not text"),
            (["--data", "text:" + empty.path, "--model", "gpt:1,32,4"], "is empty"),
            (["--data", "text:" + short.path, "--model", "gpt:1,32,4"], "fewer than one window"),
            (["--data", "text:" + text, "--model", "gpt:1,32,4", "--context", "100000"], "--context"),
            (["--data", "text:" + text, "--model", "lstm:16", "--context", "32", "--tbptt", "5"], "a divisor of --context 32"),
            (["--data", "text:" + text], "a language model for --data text:"),
            (["--model", "lstm:16"], "lstm, gru and gpt read --data text:PATH"),
            (["--data", "text:" + directory.appendingPathComponent("missing.txt").path, "--model", "gpt:1,32,4"], "cannot read text"),
            (["--data", "text:" + text, "--model", "gpt:1,30,4"], "WIDTH divisible by HEADS")
        ]
        for (arguments, message) in cases {
            let result = try SwiftTrainRunner.run(arguments + ["--no-progress", "--epochs", "1"])
            #expect(result.exitCode != 0 && result.exitCode < 128, "\(arguments)")
            #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
            #expect(!result.standardError.contains("Fatal error"), "\(arguments)")
        }
    }
}
