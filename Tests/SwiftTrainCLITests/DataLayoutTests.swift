import Foundation
import TestSupport
import Testing

/// `evaluate` and `predict` on data laid out differently from training: columns are matched by name, labels by the
/// checkpoint's classes, and a training file changed since the checkpoint is noticed; never a plausible wrong answer.
@Suite("Data laid out differently from training", .serialized)
struct DataLayoutTests {
    /// Rows of four features and a label in {1, 2, 3}, learnable from the features.
    static func rows() -> [[String]] {
        var generator = SeededGenerator(seed: 7)
        return (0..<240).map { row in
            let label = row % 3
            let features = (0..<4).map { String(format: "%.4f", ($0 % 3 == label ? 1.5 : 0) + generator.nextGaussian()) }
            return features + [String(label + 1)]
        }
    }

    static func write(_ header: [String]?, _ rows: [[String]], to url: URL) throws {
        let lines = (header.map { [$0] } ?? []) + rows
        try (lines.map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    @Test("columns are matched by name; a missing, extra or unnamed column and labels outside the classes are refused")
    func layouts() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("layout")
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ name: String) -> URL { directory.appendingPathComponent(name) }
        let rows = Self.rows()
        let header = ["a", "b", "c", "d", "label"]
        try Self.write(header, rows, to: file("train.csv"))
        let trained = try SwiftTrainRunner.run([
            "--data", "csv:" + file("train.csv").path, "--epochs", "8", "--model", "mlp:16",
            "--no-progress", "--checkpoint-dir", file("ck").path
        ])
        #expect(trained.exitCode == 0, "\(trained.standardError)")
        let checkpoint = try SwiftTrainRunner.string(trained, "checkpoint")
        func evaluate(_ name: String) throws -> ProcessResult {
            try SwiftTrainRunner.run(["evaluate", "--checkpoint", checkpoint, "--data", "csv:" + file(name).path])
        }
        // The same rows with the columns permuted (the label in the middle) score the same.
        try Self.write(["d", "label", "b", "a", "c"], rows.map { [$0[3], $0[4], $0[1], $0[0], $0[2]] }, to: file("permuted.csv"))
        let same = try evaluate("train.csv")
        let permuted = try evaluate("permuted.csv")
        #expect(same.exitCode == 0 && permuted.exitCode == 0, "\(permuted.standardError)")
        #expect(try SwiftTrainRunner.number(permuted, "test_accuracy") == SwiftTrainRunner.number(same, "test_accuracy"))
        #expect(try SwiftTrainRunner.number(same, "test_accuracy") > 0.6)
        // A file holding only classes 2 and 3 is scored against the model's classes, not renumbered 0 and 1.
        try Self.write(header, rows.filter { $0[4] != "1" }, to: file("subset.csv"))
        let subset = try evaluate("subset.csv")
        #expect(subset.exitCode == 0, "\(subset.standardError)")
        #expect(try SwiftTrainRunner.number(subset, "test_accuracy") > 0.6)
        let refused: [(String, [String]?, [[String]], String)] = [
            ("missing.csv", ["a", "b", "c", "label"], rows.map { [$0[0], $0[1], $0[2], $0[4]] }, "missing 'd'"),
            ("extra.csv", header + ["e"], rows.map { $0 + ["0"] }, "not in the training data 'e'"),
            ("unnamed.csv", nil, rows, "no header line, but the columns are named (a,b,c,d,label)"),
            ("unseen.csv", header, rows.map { Array($0.prefix(4)) + ["7"] }, "labels outside the model's classes: '7'"),
            ("text.csv", header, rows.map { Array($0.prefix(4)) + ["cat"] }, "labels outside the model's classes: 'cat'")
        ]
        for (name, fileHeader, fileRows, message) in refused {
            try Self.write(fileHeader, fileRows, to: file(name))
            let result = try evaluate(name)
            #expect(result.exitCode == 1 && result.standardError.contains(message), "\(name): \(result.standardError)")
            if name != "unseen.csv" && name != "text.csv" {
                let predicted = try SwiftTrainRunner.run([
                    "predict", "--checkpoint", checkpoint, "--data", "csv:" + file(name).path,
                    "--output", file("out.csv").path
                ])
                #expect(predicted.exitCode != 0 && predicted.standardError.contains(message), "predict \(name): \(predicted.standardError)")
            }
        }
        // Prediction matches by name too: the permuted file predicts what the original does.
        for name in ["train.csv", "permuted.csv"] {
            let predicted = try SwiftTrainRunner.run([
                "predict", "--checkpoint", checkpoint, "--data", "csv:" + file(name).path,
                "--output", file("p-" + name).path
            ])
            #expect(predicted.exitCode == 0, "\(predicted.standardError)")
        }
        #expect(try Data(contentsOf: file("p-train.csv")) == Data(contentsOf: file("p-permuted.csv")))
        // The training file shuffled after the run: its own split and a resume are refused, naming the change.
        try Self.write(header, rows.reversed(), to: file("train.csv"))
        let ownSplit = try SwiftTrainRunner.run(["evaluate", "--checkpoint", checkpoint])
        #expect(
            ownSplit.exitCode != 0 && ownSplit.standardError.contains("changed since the checkpoint was written"),
            "\(ownSplit.standardError)")
        let resumed = try SwiftTrainRunner.run([
            "--data", "csv:" + file("train.csv").path, "--epochs", "9", "--model", "mlp:16",
            "--no-progress", "--checkpoint-dir", file("ck").path, "--resume", "auto"
        ])
        #expect(resumed.exitCode != 0 && resumed.standardError.contains("changed since the checkpoint was written"))
    }

    @Test("a separate --test-data file holding some of the classes is scored by the training data's classes")
    func separateTestClasses() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("test-classes")
        defer { try? FileManager.default.removeItem(at: directory) }
        let rows = Self.rows()
        let header = ["a", "b", "c", "d", "label"]
        let train = directory.appendingPathComponent("train.csv")
        let test = directory.appendingPathComponent("test.csv")
        try Self.write(header, rows, to: train)
        try Self.write(header, rows.filter { $0[4] != "1" }, to: test)
        let result = try SwiftTrainRunner.run([
            "--data", "csv:" + train.path, "--test-data", "csv:" + test.path, "--epochs", "8",
            "--model", "mlp:16", "--no-progress"
        ])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(try SwiftTrainRunner.number(result, "test_accuracy") > 0.6)
    }
}
