import Foundation
import TestSupport
import Testing

/// Findings of a review that used the command line as a careless user and an attacker would: each is one clear
/// line or the right answer now.
@Suite("A careless user's inputs", .serialized)
struct CarelessUserTests {
    func directory(_ label: String) throws -> URL { try ProcessRunner.makeTemporaryDirectory(label) }

    @Test("evaluate --split all of a language model's checkpoint scores every window (it crashed)")
    func languageModelWholeSplit() throws {
        let folder = try directory("lm-all")
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = folder.appendingPathComponent("t.txt")
        try String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 60).write(to: text, atomically: true, encoding: .utf8)
        let trained = try SwiftTrainRunner.run([
            "--data", "text:" + text.path, "--model", "gpt:1,32,2", "--context", "32", "--epochs", "1",
            "--no-progress", "--checkpoint-dir", folder.appendingPathComponent("ck").path
        ])
        #expect(trained.exitCode == 0, "\(trained.standardError.suffix(500))")
        let all = try SwiftTrainRunner.run(["evaluate", "--checkpoint", try SwiftTrainRunner.string(trained, "checkpoint"), "--split", "all"])
        #expect(all.exitCode == 0, "exit \(all.exitCode): \(all.standardError.suffix(500))")
        #expect(try SwiftTrainRunner.number(all, "test_loss") > 0)
    }

    @Test("a --log naming the --config file, a pipe or a device as data, and a report of another type are refused")
    func refusedFiles() throws {
        let folder = try directory("careless")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("run.yaml")
        try "epochs: 1\r\nbuiltin-samples: 100\r\n".write(to: config, atomically: true, encoding: .utf8)
        let overwrite = try SwiftTrainRunner.run(["--config", config.path, "--log", config.path, "--no-progress"])
        #expect(overwrite.exitCode == 2 && overwrite.standardError.contains("is the same file as --config"))
        #expect(try String(contentsOf: config, encoding: .utf8) == "epochs: 1\r\nbuiltin-samples: 100\r\n")
        let windows = try SwiftTrainRunner.run(["--config", config.path, "--print-config"])
        #expect(windows.standardOutput.contains("epochs: 1\n") && windows.standardOutput.contains("builtin-samples: 100"))
        let fifo = folder.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o600) == 0)
        for data in ["csv:/dev/zero", "csv:" + fifo, "text:/dev/urandom", "csv:" + folder.path] {
            let result = try SwiftTrainRunner.run(
                ["--data", data, "--no-progress", "--epochs", "1"] + (data.hasPrefix("text") ? ["--model", "gpt:1,8,1"] : []),
                timeout: 60)
            #expect(!result.timedOut && result.exitCode != 0, "\(data): exit \(result.exitCode)")
            #expect(
                result.standardError.contains("not a regular file") || result.standardError.contains("a directory"),
                "\(data): \(result.standardError)")
        }
        let report = try SwiftTrainRunner.run(["report", config.path, "--output", folder.appendingPathComponent("figure.txt").path])
        #expect(report.exitCode == 2 && report.standardError.contains(".svg or .png"))
        let inspect = try SwiftTrainRunner.run(["inspect", folder.path])
        #expect(inspect.exitCode == 1 && inspect.standardError.contains("a directory, not a file"), "\(inspect.standardError)")
    }

    @Test("predict quotes class names in its header; a BOM before a CSV header is not part of a name")
    func csvNames() throws {
        let folder = try directory("csv-names")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = folder.appendingPathComponent("odd.csv")
        let labels = ["a,b", "say \"hi\"", "plain"]
        var text = "\u{FEFF}x,y,label\n"
        for row in 0..<60 {
            text += "\(Double(row % 3) + 0.01 * Double(row)),\(Double(row % 3)),\"\(labels[row % 3].replacingOccurrences(of: "\"", with: "\"\""))\"\n"
        }
        try text.write(to: data, atomically: true, encoding: .utf8)
        let trained = try SwiftTrainRunner.run([
            "--data", "csv:" + data.path, "--epochs", "2", "--no-progress", "--model", "mlp:8",
            "--checkpoint-dir", folder.appendingPathComponent("ck").path
        ])
        #expect(trained.exitCode == 0, "\(trained.standardError)")
        let output = folder.appendingPathComponent("p.csv")
        let predicted = try SwiftTrainRunner.run([
            "predict", "--checkpoint", try SwiftTrainRunner.string(trained, "checkpoint"),
            "--data", "csv:" + data.path, "--output", output.path
        ])
        #expect(predicted.exitCode == 0, "\(predicted.standardError)")
        let header = try String(contentsOf: output, encoding: .utf8).split(separator: "\n")[0]
        #expect(header == #"prediction,"p_a,b",p_plain,"p_say ""hi""""#, "\(header)")
    }

    @Test("a regression whose test targets are all equal reports test_r2 null instead of failing; --time-limit saves its last step")
    func undefinedMetricAndTimeLimit() throws {
        let folder = try directory("r2")
        defer { try? FileManager.default.removeItem(at: folder) }
        let train = folder.appendingPathComponent("train.csv")
        let constant = folder.appendingPathComponent("constant.csv")
        try
            ("a,b,y\n" + (0..<100).map { "\(Double($0) / 100),\(Double($0 % 7) / 7),\(Double($0) / 50 + Double($0 % 7) / 7)" }.joined(separator: "\n"))
            .write(to: train, atomically: true, encoding: .utf8)
        try ("a,b,y\n" + (0..<10).map { "\(Double($0) / 10),0.5,3.0" }.joined(separator: "\n")).write(to: constant, atomically: true, encoding: .utf8)
        let result = try SwiftTrainRunner.run([
            "--data", "csv:" + train.path, "--test-data", "csv:" + constant.path, "--task", "regression",
            "--epochs", "2", "--no-progress"
        ])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(try result.summary()["test_r2"] is NSNull)
        let timed = try SwiftTrainRunner.run(
            [
                "--builtin-samples", "2000", "--epochs", "100000", "--no-progress", "--model", "mlp:16",
                "--time-limit", "1", "--checkpoint-dir", folder.appendingPathComponent("ck").path
            ], timeout: 120)
        #expect(timed.exitCode == 0, "\(timed.standardError)")
        let iteration = Int(try SwiftTrainRunner.number(timed, "iteration"))
        #expect(try SwiftTrainRunner.string(timed, "checkpoint").hasSuffix("checkpoint_\(iteration).safetensors"))
    }

    @Test("generate refuses more than 100,000 tokens, and a negative count, by its range; a config text value may begin with '-'")
    func tokenBound() throws {
        for count in ["1000000", "-1"] {
            let result = try SwiftTrainRunner.run(["generate", "--checkpoint", "/nonexistent.safetensors", "--prompt", "a", "--tokens", count])
            #expect(result.exitCode != 0 && result.standardError.contains("0 to 100,000"), "\(result.standardError)")
        }
        let folder = try directory("dash")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("dash.yaml")
        try "log: \"--odd-name\"\n".write(to: config, atomically: true, encoding: .utf8)
        let printed = try SwiftTrainRunner.run(["--config", config.path, "--print-config"])
        #expect(printed.exitCode == 0 && printed.standardOutput.contains("log: \"--odd-name\""), "\(printed.standardError)")
    }
}
