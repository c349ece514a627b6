import Foundation
import TestSupport
import Testing

/// `--task`: classification or regression, chosen from the labels when not given.
@Suite("Tasks: classification and regression from the labels", .serialized)
struct TaskTests {
    /// A CSV of `rows` samples whose label column is `label(row, x1, x2)`.
    static func csv(_ rows: Int, label: (Int, Double, Double) -> String) throws -> URL {
        var random = SystemRandomNumberGenerator()
        var text = "x1,x2,target\n"
        for row in 0..<rows {
            let x1 = Double.random(in: -1...1, using: &random)
            let x2 = Double.random(in: -1...1, using: &random)
            text += "\(x1),\(x2),\(label(row, x1, x2))\n"
        }
        let url = try ProcessRunner.makeTemporaryDirectory("task").appendingPathComponent("data.csv")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static func keys(_ result: ProcessResult) throws -> Set<String> { Set(try result.summary().keys) }

    @Test("non-integer numeric labels train a regression with MSE and report test_mse, test_mae and test_r2")
    func regression() throws {
        let data = try Self.csv(600) { _, x1, x2 in String(format: "%.3f", 250 + 100 * x1 - 60 * x2) }
        defer { try? FileManager.default.removeItem(at: data.deletingLastPathComponent()) }
        let checkpoints = data.deletingLastPathComponent().appendingPathComponent("ckpt").path
        let result = try SwiftTrainRunner.run([
            "--data", "csv:\(data.path)", "--epochs", "30", "--lr", "0.01", "--no-progress",
            "--checkpoint-dir", checkpoints
        ])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(800))")
        #expect(result.standardError.contains("task: regression"), "\(result.standardError)")
        let summary = try Self.keys(result)
        #expect(summary.isSuperset(of: ["test_mse", "test_mae", "test_r2", "test_loss"]) && !summary.contains("test_accuracy"))
        #expect(try SwiftTrainRunner.number(result, "test_r2") > 0.95)
        #expect(try SwiftTrainRunner.number(result, "test_mae") < 15, "in the targets' own units")
        let checkpoint = try #require(try result.summary()["checkpoint"] as? String)
        let evaluated = try SwiftTrainRunner.run(["evaluate", "--checkpoint", checkpoint])
        #expect(evaluated.exitCode == 0, "\(evaluated.standardError.suffix(800))")
        #expect(try SwiftTrainRunner.number(evaluated, "test_r2") == SwiftTrainRunner.number(result, "test_r2"))
    }

    @Test("text labels and integers with few distinct values are classes; integers with many distinct values are values")
    func detection() throws {
        let text = try Self.csv(200) { _, x1, _ in x1 > 0 ? "up" : "down" }
        let few = try Self.csv(200) { _, x1, _ in x1 > 0 ? "1" : "0" }
        let many = try Self.csv(400) { row, _, _ in String(row % 200) }
        defer { for url in [text, few, many] { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) } }
        for (data, task) in [(text, "classification"), (few, "classification"), (many, "regression")] {
            let result = try SwiftTrainRunner.run(["--data", "csv:\(data.path)", "--epochs", "1", "--no-progress"])
            #expect(result.exitCode == 0, "\(result.standardError.suffix(800))")
            #expect(result.standardError.contains("task: \(task)"), "\(result.standardError)")
            #expect(try result.summary()["task"] as? String == task)
        }
        let forced = try SwiftTrainRunner.run(["--data", "csv:\(few.path)", "--task", "regression", "--epochs", "1", "--no-progress"])
        #expect(try forced.summary()["task"] as? String == "regression")
        #expect(!forced.standardError.contains("task:"), "a task given with --task is not announced")
        let impossible = try SwiftTrainRunner.run(["--data", "csv:\(text.path)", "--task", "regression", "--no-progress"])
        #expect(impossible.exitCode != 0)
        #expect(impossible.standardError.contains("is not a number, so the data cannot be a regression"), "\(impossible.standardError)")
        let bad = try SwiftTrainRunner.run(["--task", "clustering"])
        #expect(bad.exitCode == 2 && bad.standardError.contains("--task"))
    }
}
