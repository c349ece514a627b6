import Foundation
import TestSupport
import Testing

/// What a researcher reaches for first: config files, evaluation inside an epoch, best checkpoints, early stopping,
/// clipping, time limits, prediction.
@Suite("The research workflow through the command line", .serialized)
struct WorkflowTests {
    static let small = ["--no-progress", "--builtin-samples", "400", "--model", "mlp:32"]

    @Test("--config reads YAML or JSON, flags override it, --print-config shows the result, unknown keys are named")
    func configurationFiles() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let yaml = directory.appendingPathComponent("run.yaml")
        let json = directory.appendingPathComponent("run.json")
        try "epochs: 3\nlr: 0.02\nmodel: \"mlp:16\"\nprogress: false\nbuiltin-samples: 300\n".write(to: yaml, atomically: true, encoding: .utf8)
        try #"{"epochs": 2, "batch-size": 16, "builtin-samples": 300}"#.write(to: json, atomically: true, encoding: .utf8)
        let printed = try SwiftTrainRunner.run(["--config", yaml.path, "--epochs", "1", "--print-config"])
        #expect(printed.exitCode == 0, "\(printed.standardError)")
        for line in ["epochs: 1", "lr: 0.02", "model: \"mlp:16\"", "builtin-samples: 300"] {
            #expect(printed.standardOutput.contains(line), "\(line) in \(printed.standardOutput)")
        }
        let trained = try SwiftTrainRunner.run(["--config", json.path, "--no-progress"])
        #expect(trained.exitCode == 0, "\(trained.standardError)")
        #expect(try SwiftTrainRunner.number(trained, "epoch") == 2)
        try "epochs: 2\nlearning-rate: 0.1\n".write(to: yaml, atomically: true, encoding: .utf8)
        let unknown = try SwiftTrainRunner.run(["--config", yaml.path])
        #expect(unknown.exitCode == 2)
        #expect(unknown.standardError.contains("unknown key 'learning-rate'") && unknown.standardError.contains(yaml.path))
        let version = try SwiftTrainRunner.run(["--version"])
        #expect(version.exitCode == 0 && version.standardOutput.hasPrefix("swift-train "))
        let help = try SwiftTrainRunner.run(["--help"])
        #expect(help.standardOutput.contains("--eval-every") && help.standardOutput.contains("predict"))
    }

    @Test("--config refuses what YAML readers read differently, naming the file, line and key; --print-config reads back")
    func configurationValues() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("config-values")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("run.yaml")
        let refused: [(String, String)] = [
            ("epochs: 010\n", "'epochs: 010' is read differently by YAML readers"),
            ("epochs: 0x10\n", "write a plain decimal integer"), ("epochs: 1_0\n", "write a plain decimal integer"),
            ("lr: 1:30\n", "write a plain decimal number"),
            ("seed: 18446744073709551616\n", "out of range"),
            ("label-column: no\n", "read by YAML readers as a boolean"),
            ("checkpoint-dir: 1e3\n", "read by YAML readers as a number"),
            ("epochs: 3\nepochs: 4\n", "line 2: 'epochs' is given twice"),
            ("? [a, b]\n: 1\n", "complex key"), ("a: &x 1\nb: *x\n", "anchor"),
            (String(repeating: "{", count: 10_000), "nested mapping"),
            ("data:\n" + (1..<4_000).map { String(repeating: " ", count: $0) + "a:\n" }.joined(), "at most 65536 bytes")
        ]
        for (text, expected) in refused {
            try text.write(to: file, atomically: true, encoding: .utf8)
            let result = try SwiftTrainRunner.run(["--config", file.path, "--print-config"], timeout: 30)
            #expect(
                result.exitCode == 2 && result.standardError.contains(expected) && result.standardError.contains(file.path),
                "\(text.prefix(40)): exit \(result.exitCode), \(result.standardError)")
            #expect(result.standardError.split(separator: "\n").count == 1)
        }
        let printed = try SwiftTrainRunner.run([
            "--print-config", "--label-column", "no", "--checkpoint-dir", "1e3",
            "--seed", "18446744073709551615", "--virtual-shards", "4", "--no-overlap"
        ])
        #expect(printed.exitCode == 0, "\(printed.standardError)")
        try printed.standardOutput.write(to: file, atomically: true, encoding: .utf8)
        let reread = try SwiftTrainRunner.run(["--config", file.path, "--print-config"])
        #expect(reread.exitCode == 0, "\(reread.standardError)")
        #expect(reread.standardOutput == printed.standardOutput)
        #expect(printed.standardOutput.contains("label-column: \"no\"") && printed.standardOutput.contains("seed: 18446744073709551615"))
        // The defaults alone read back too (no option a file may not set without another, such as --keep).
        let defaults = try SwiftTrainRunner.run(["--print-config"])
        try defaults.standardOutput.write(to: file, atomically: true, encoding: .utf8)
        let rereadDefaults = try SwiftTrainRunner.run(["--config", file.path, "--print-config"])
        #expect(rereadDefaults.exitCode == 0, "\(rereadDefaults.standardError)")
        #expect(rereadDefaults.standardOutput == defaults.standardOutput)
    }

    @Test("--eval-every evaluates inside epochs; --save-best keeps the best files by the metric; the log records both")
    func bestCheckpoints() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("best")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("run.jsonl").path
        let result = try SwiftTrainRunner.run(
            Self.small + [
                "--epochs", "3", "--eval-every", "5", "--save-best", "accuracy",
                "--keep", "2", "--checkpoint-dir", directory.path, "--log", log
            ])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(500))")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("best_checkpoint_accuracy=") }
        #expect(files.count == 2, "\(files)")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.first?.contains("\"event\":\"configuration\"") == true)
        #expect(lines.filter { $0.contains("\"event\":\"evaluation\"") }.count >= 4)
    }

    @Test("--early-stopping ends a run that stops improving; --time-limit ends one on time; --clip-grad-norm trains")
    func stopping() throws {
        let early = try SwiftTrainRunner.run(Self.small + ["--epochs", "200", "--early-stopping", "1", "--lr", "0.5"])
        #expect(early.exitCode == 0, "\(early.standardError.suffix(500))")
        #expect(try SwiftTrainRunner.number(early, "epoch") < 200)
        let timed = try SwiftTrainRunner.run(Self.small + ["--epochs", "100000", "--time-limit", "2"], timeout: 120)
        #expect(timed.exitCode == 0 && !timed.timedOut)
        #expect(try SwiftTrainRunner.number(timed, "epoch") < 100000)
        let clipped = try SwiftTrainRunner.run(Self.small + ["--epochs", "3", "--clip-grad-norm", "0.5"])
        #expect(clipped.exitCode == 0)
        #expect(try SwiftTrainRunner.number(clipped, "test_accuracy") > 0.5)
        #expect(try SwiftTrainRunner.run(["--clip-grad-norm", "0"]).exitCode == 2)
    }

    @Test("a relative data path is stored resolved: evaluate works from another directory; --split all takes every sample")
    func evaluateElsewhere() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("elsewhere")
        defer { try? FileManager.default.removeItem(at: directory) }
        let digits = ProcessRunner.sharedDirectory.appendingPathComponent("data/digits.csv")
        try FileManager.default.copyItem(at: digits, to: directory.appendingPathComponent("digits.csv"))
        let trained = try SwiftTrainRunner.run(
            [
                "--data", "csv:digits.csv", "--label-column", "label", "--epochs", "2",
                "--no-progress", "--checkpoint-dir", "ck"
            ], in: directory)
        #expect(trained.exitCode == 0, "\(trained.standardError)")
        let checkpoint = try #require(try trained.summary()["checkpoint"] as? String)
        let absolute = checkpoint.hasPrefix("/") ? checkpoint : directory.appendingPathComponent(checkpoint).path
        let test = try SwiftTrainRunner.run(["evaluate", "--checkpoint", absolute], in: URL(fileURLWithPath: "/"))
        #expect(test.exitCode == 0, "\(test.standardError)")
        #expect(try SwiftTrainRunner.number(test, "test_accuracy") == SwiftTrainRunner.number(trained, "test_accuracy"))
        let all = try SwiftTrainRunner.run(["evaluate", "--checkpoint", absolute, "--split", "all"], in: URL(fileURLWithPath: "/"))
        #expect(all.exitCode == 0, "\(all.standardError)")
        #expect(try SwiftTrainRunner.number(all, "test_accuracy") != SwiftTrainRunner.number(test, "test_accuracy"))
        // Other data whose label column has another name.
        let renamed = directory.appendingPathComponent("renamed.csv")
        let original = try String(contentsOf: digits, encoding: .utf8)
        try original.replacingOccurrences(of: ",label\n", with: ",digit\n").write(to: renamed, atomically: true, encoding: .utf8)
        let other = try SwiftTrainRunner.run([
            "evaluate", "--checkpoint", absolute, "--data", "csv:\(renamed.path)",
            "--label-column", "digit"
        ])
        #expect(other.exitCode == 0, "\(other.standardError)")
        #expect(try SwiftTrainRunner.number(other, "test_accuracy") > 0.9)
    }

    @Test("report draws several runs' logs in one PNG (rsvg-convert) or SVG")
    func reportPNG() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("report")
        defer { try? FileManager.default.removeItem(at: directory) }
        var logs: [String] = []
        for (name, lr) in [("fast", "0.05"), ("slow", "0.01")] {
            let log = directory.appendingPathComponent("\(name).jsonl").path
            let result = try SwiftTrainRunner.run(Self.small + ["--epochs", "3", "--lr", lr, "--log", log])
            #expect(result.exitCode == 0, "\(result.standardError)")
            logs.append(log)
        }
        let png = directory.appendingPathComponent("runs.png")
        let svg = directory.appendingPathComponent("runs.svg")
        let drawn = try SwiftTrainRunner.run(["report"] + logs + ["--output", png.path])
        #expect(drawn.exitCode == 0, "\(drawn.standardError)")
        #expect(try Data(contentsOf: png).prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "a PNG file")
        _ = try SwiftTrainRunner.run(["report"] + logs + ["--output", svg.path])
        let text = try String(contentsOf: svg, encoding: .utf8)
        #expect(text.contains("fast: test_accuracy") && text.contains("slow: test_accuracy"))
    }

    @Test("predict writes one row per input row with class and probabilities; under mpirun -n 2 the same file")
    func predict() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("predict")
        defer { try? FileManager.default.removeItem(at: directory) }
        let digits = ProcessRunner.sharedDirectory.appendingPathComponent("data/digits.csv").path
        let trained = try SwiftTrainRunner.run([
            "--data", "csv:\(digits)", "--label-column", "label", "--epochs", "3",
            "--no-progress", "--checkpoint-dir", directory.path
        ])
        let checkpoint = try #require(try trained.summary()["checkpoint"] as? String)
        let single = directory.appendingPathComponent("single.csv")
        let parallel = directory.appendingPathComponent("parallel.csv")
        let arguments = ["predict", "--checkpoint", checkpoint, "--data", "csv:\(digits)", "--label-column", "label", "--output"]
        let first = try SwiftTrainRunner.run(arguments + [single.path])
        #expect(first.exitCode == 0, "\(first.standardError)")
        let rows = try String(contentsOf: single, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 1798 && rows[0].hasPrefix("prediction,p_0,p_1"))
        let labels = try String(contentsOfFile: digits, encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",").last! }
        let agree = zip(rows.dropFirst(), labels).filter { $0.0.split(separator: ",")[0] == $0.1 }.count
        #expect(Double(agree) / 1797 > 0.9)
        let second = try SwiftTrainRunner.mpirun(ranks: 2, arguments + [parallel.path])
        #expect(second.exitCode == 0, "\(second.standardError)")
        let other = try String(contentsOf: parallel, encoding: .utf8).split(separator: "\n")
        #expect(other.count == rows.count)
        for (mine, theirs) in zip(rows.dropFirst(), other.dropFirst()) {
            let a = mine.split(separator: ",")
            let b = theirs.split(separator: ",")
            #expect(a[0] == b[0], "the same class in input order")
            #expect(zip(a.dropFirst(), b.dropFirst()).allSatisfy { abs(Double($0)! - Double($1)!) < 1e-4 })
        }
    }
}

/// Progress as a person sees it on a terminal (a pseudo-terminal made by `script`).
@Suite("Progress on a terminal", .serialized)
struct TerminalProgressTests {
    static var hasScript: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/script") }

    @Test(
        "under mpirun on a terminal rank 0 still draws a bar, with the whole run's ETA",
        .enabled(if: hasScript, "skipped: util-linux's script is not installed"))
    func barUnderMPI() throws {
        let binary = try ProcessRunner.executable("swift-train")
        let command = (["mpirun"] + ProcessRunner.mpirunArguments(ranks: 2) + [binary, "--epochs", "2", "--builtin-samples", "400"])
            .joined(separator: " ")
        let result = try ProcessRunner.run(
            "/usr/bin/script", ["-qec", command, "/dev/null"],
            environment: ProcessRunner.mpiEnvironment, timeout: 120)
        #expect(result.exitCode == 0, "\(result.standardOutput.suffix(500))")
        #expect(result.standardOutput.contains("\r") && result.standardOutput.contains("|#"), "a bar redrawn in place")
        #expect(result.standardOutput.contains(", run "), "the whole run's ETA")
    }
}
