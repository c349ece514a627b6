import Foundation
import TestSupport
import Testing

@Suite("swift-train's command line: errors, data formats, evaluate, inspect and report", .serialized)
struct CommandLineTests {
    struct BadFlags: CustomTestStringConvertible, Sendable {
        let arguments: [String]
        let message: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    @Test(
        "a bad flag gets one clear line on standard error and exit code 2",
        arguments: [
            BadFlags(arguments: ["--epochs", "0"], message: "--epochs must be a positive integer"),
            BadFlags(arguments: ["--batch-size", "-3"], message: "--batch-size"),
            BadFlags(arguments: ["--data", "parquet:x"], message: "invalid --data 'parquet:x'"),
            BadFlags(arguments: ["--model", "mlp:12,x"], message: "invalid --model 'mlp:12,x'"),
            BadFlags(arguments: ["--optimizer", "rmsprop"], message: "Please provide one of 'sgd', 'adam' or 'adamw'"),
            BadFlags(arguments: ["--lr=-1"], message: "--lr must be a positive number"),
            BadFlags(arguments: ["--lr", "-1"], message: "--lr must be a positive number"),
            BadFlags(arguments: ["--scheduler", "step:0:0.5"], message: "invalid --scheduler"),
            BadFlags(arguments: ["--resume", "auto"], message: "--resume auto needs --checkpoint-dir"),
            BadFlags(arguments: ["--test-fraction", "1.5"], message: "--test-fraction must be in (0, 1)"),
            BadFlags(arguments: ["--no-such-flag"], message: "Unknown option '--no-such-flag'")
        ])
    func badFlags(_ case: BadFlags) throws {
        let result = try SwiftTrainRunner.run(`case`.arguments)
        #expect(result.exitCode == 2)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1, "\(result.standardError)")
        #expect(result.standardError.contains(`case`.message), "\(result.standardError)")
        #expect(result.standardOutput.isEmpty)
    }

    @Test("under mpirun a bad flag is reported once and the whole job ends")
    func badFlagUnderMPI() throws {
        let result = try SwiftTrainRunner.mpirun(ranks: 2, ["--epochs", "0"], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(!result.timedOut)
        #expect(
            result.standardError.components(separatedBy: "--epochs must be a positive integer").count == 2,
            "\(result.standardError)")
    }

    @Test("--help documents every option, the per-rank batch size included")
    func help() throws {
        let result = try SwiftTrainRunner.run(["train", "--help"])
        #expect(result.exitCode == 0)
        for option in [
            "--data", "--label-column", "--test-fraction", "--test-data", "--model", "--epochs", "--batch-size",
            "--lr", "--optimizer", "--momentum", "--weight-decay", "--scheduler", "--seed", "--checkpoint-dir",
            "--checkpoint-every", "--keep", "--resume", "--log", "--progress", "--simulate-ranks",
            "--deterministic", "--threads", "--no-normalize", "ON EACH RANK"
        ] {
            #expect(result.standardOutput.contains(option), "help lacks \(option)")
        }
    }

    struct BadCSV: CustomTestStringConvertible, Sendable {
        let name: String
        let contents: String
        let message: String
        var testDescription: String { name }
    }

    @Test(
        "a bad CSV file is refused naming the problem, the line and the column",
        arguments: [
            BadCSV(name: "non-numeric cell", contents: "a,b,label\n1,2,x\n3,oops,y\n", message: "line 3, column 2"),
            BadCSV(name: "nan", contents: "a,b,label\n1,2,x\n3,nan,y\n", message: "line 3, column 2"),
            BadCSV(name: "ragged row", contents: "a,b,label\n1,2,x\n3,y\n", message: "line 3"),
            BadCSV(name: "empty file", contents: "", message: "empty")
        ])
    func badCSV(_ case: BadCSV) throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("csv")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.csv")
        try `case`.contents.write(to: file, atomically: true, encoding: .utf8)
        let result = try SwiftTrainRunner.run(["--data", "csv:\(file.path)", "--no-progress"])
        #expect(result.exitCode == 1)
        #expect(result.standardError.contains(`case`.message), "\(result.standardError)")
        #expect(result.standardError.contains("bad.csv"), "\(result.standardError)")
        #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
    }

    @Test("a missing data file is one clear error under mpirun too, printed once")
    func missingFileUnderMPI() throws {
        let result = try SwiftTrainRunner.mpirun(ranks: 2, ["--data", "csv:/nonexistent/data.csv", "--no-progress"], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(!result.timedOut)
        #expect(result.standardError.components(separatedBy: "/nonexistent/data.csv").count == 2, "\(result.standardError)")
    }

    @Test("a loss that becomes infinite or NaN stops the run with one line naming the iteration, exit non-zero, no summary")
    func divergingLoss() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("diverge")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try SwiftTrainRunner.run(
            [
                "--lr", "1e30", "--epochs", "2", "--no-progress",
                "--checkpoint-dir", directory.path
            ], timeout: 120)
        #expect(result.exitCode != 0)
        #expect(result.standardError.contains("the training loss became"), "\(result.standardError.suffix(500))")
        #expect(result.standardError.contains("at iteration"))
        #expect(!result.standardOutput.contains("{"), "no summary of a diverged run")
        let saved = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".safetensors") }
        #expect(saved.isEmpty, "nothing saved from a diverged run: \(saved)")
    }

    @Test("the digits CSV trains to a good accuracy with --label-column label")
    func digitsCSV() throws {
        let digits = ProcessRunner.sharedDirectory.appendingPathComponent("data/digits.csv")
        let result = try SwiftTrainRunner.run([
            "--data", "csv:\(digits.path)", "--label-column", "label", "--epochs", "5",
            "--no-progress"
        ])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.number(result, "test_accuracy") >= 0.9)
    }

    @Test("IDX files (gzipped) train, and a wrong magic number is refused")
    func idxData() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("idx")
        defer { try? FileManager.default.removeItem(at: directory) }
        func idx(magic: UInt32, dimensions: [UInt32], payload: [UInt8]) -> Data {
            var data = Data()
            for word in [magic] + dimensions { withUnsafeBytes(of: word.bigEndian) { data.append(contentsOf: $0) } }
            data.append(contentsOf: payload)
            return data
        }
        var generator = SeededGenerator(seed: 1)
        for (prefix, count) in [("train", 300), ("t10k", 100)] {
            let labels = (0..<count).map { UInt8($0 % 3) }
            var pixels: [UInt8] = []
            for label in labels {
                for pixel in 0..<16 { pixels.append(UInt8(pixel % 3 == Int(label) ? 200 : Int(generator.next() % 60))) }
            }
            try idx(magic: 2051, dimensions: [UInt32(count), 4, 4], payload: pixels)
                .write(to: directory.appendingPathComponent("\(prefix)-images-idx3-ubyte"))
            try idx(magic: 2049, dimensions: [UInt32(count)], payload: labels)
                .write(to: directory.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
        }
        let gzip = try ProcessRunner.run("gzip", [directory.appendingPathComponent("train-images-idx3-ubyte").path])
        #expect(gzip.exitCode == 0)
        let result = try SwiftTrainRunner.run([
            "--data", "idx:\(directory.path)", "--epochs", "3", "--no-progress",
            "--model", "mlp:16"
        ])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.number(result, "test_accuracy") >= 0.9)
        try idx(magic: 2050, dimensions: [100], payload: Array(repeating: 0, count: 100))
            .write(to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
        let bad = try SwiftTrainRunner.run(["--data", "idx:\(directory.path)", "--no-progress"])
        #expect(bad.exitCode == 1)
        #expect(bad.standardError.contains("magic"), "\(bad.standardError)")
    }

    @Test("evaluate and inspect read a saved checkpoint; report draws the run's log")
    func evaluateInspectReport() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("tools")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("run.jsonl")
        let train = try SwiftTrainRunner.run([
            "--epochs", "2", "--no-progress", "--builtin-samples", "800",
            "--checkpoint-dir", directory.appendingPathComponent("c").path,
            "--log", log.path
        ])
        #expect(train.exitCode == 0, "\(train.standardError.suffix(1000))")
        let checkpoint = try SafetensorsTestReader.newestCheckpoint(in: directory.appendingPathComponent("c"))
        let evaluated = try SwiftTrainRunner.run(["evaluate", "--checkpoint", checkpoint.path])
        #expect(evaluated.exitCode == 0, "\(evaluated.standardError.suffix(1000))")
        #expect(try SwiftTrainRunner.number(evaluated, "test_accuracy") == SwiftTrainRunner.number(train, "test_accuracy"))
        #expect(try SwiftTrainRunner.string(evaluated, "parameters_sha256") == SwiftTrainRunner.string(train, "parameters_sha256"))
        let inspected = try SwiftTrainRunner.run(["inspect", checkpoint.path])
        #expect(inspected.exitCode == 0)
        for fragment in ["iteration", "epoch 2", "world size 1", "0.weight", "sha256"] {
            #expect(inspected.standardOutput.contains(fragment), "inspect lacks \(fragment): \(inspected.standardOutput)")
        }
        let svg = directory.appendingPathComponent("curves.svg")
        let report = try SwiftTrainRunner.run(["report", log.path, "--output", svg.path])
        #expect(report.exitCode == 0, "\(report.standardError)")
        let drawing = try String(contentsOf: svg, encoding: .utf8)
        #expect(drawing.hasPrefix("<svg") || drawing.hasPrefix("<?xml"))
        #expect(drawing.contains("test_accuracy"))
        let missing = try SwiftTrainRunner.run(["inspect", directory.appendingPathComponent("none.safetensors").path])
        #expect(missing.exitCode == 1)
        #expect(missing.standardError.contains("none.safetensors"))
    }
}
