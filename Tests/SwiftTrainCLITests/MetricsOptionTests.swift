import Foundation
import TestSupport
import Testing

/// `--metrics`: the test metrics a run computes, as Ignite names them, exact on every world size.
@Suite("--metrics chooses the test metrics", .serialized)
struct MetricsOptionTests {
    static let classification = ["accuracy", "top1_accuracy", "top3_accuracy", "precision", "recall", "f1", "cohen_kappa", "matthews_corrcoef"]

    @Test("classification metrics land in the summary; with virtual shards they are the same bits on 1, 2 and 4 ranks")
    func classificationMetrics() throws {
        let common = [
            "--no-progress", "--builtin-samples", "600", "--epochs", "2", "--virtual-shards", "4",
            "--metrics", Self.classification.joined(separator: ",")
        ]
        let single = try SwiftTrainRunner.run(common)
        #expect(single.exitCode == 0, "\(single.standardError.suffix(800))")
        let summary = try single.summary()
        for name in Self.classification + ["loss"] {
            let value = try #require(summary["test_\(name)"] as? Double, "test_\(name) in \(summary.keys.sorted())")
            #expect(value.isFinite)
        }
        // Top-1 accuracy is accuracy; top-3 is at least it; macro scores are between 0 and 1.
        #expect(try SwiftTrainRunner.number(single, "test_top1_accuracy") == SwiftTrainRunner.number(single, "test_accuracy"))
        #expect(try SwiftTrainRunner.number(single, "test_top3_accuracy") >= SwiftTrainRunner.number(single, "test_accuracy"))
        for name in ["precision", "recall", "f1"] { #expect((0...1).contains(try SwiftTrainRunner.number(single, "test_\(name)"))) }
        for ranks in [2, 4] {
            let simulated = try SwiftTrainRunner.run(common + ["--simulate-ranks", "\(ranks)"])
            #expect(simulated.exitCode == 0, "\(simulated.standardError.suffix(800))")
            for name in Self.classification {
                #expect(
                    try SwiftTrainRunner.number(simulated, "test_\(name)") == SwiftTrainRunner.number(single, "test_\(name)"),
                    "\(name), \(ranks) ranks")
            }
        }
        let distributed = try SwiftTrainRunner.mpirun(ranks: 2, common)
        #expect(distributed.exitCode == 0, "\(distributed.standardError.suffix(800))")
        #expect(try SwiftTrainRunner.number(distributed, "test_f1") == SwiftTrainRunner.number(single, "test_f1"))
    }

    @Test("ROC AUC and average precision rank every rank's scores of a binary task; --save-best follows any chosen metric")
    func binaryAreas() throws {
        var random = SystemRandomNumberGenerator()
        var text = "x1,x2,label\n"
        for _ in 0..<600 {
            let (x1, x2) = (Double.random(in: -1...1, using: &random), Double.random(in: -1...1, using: &random))
            // A noisy boundary: learnable, not perfectly.
            text += "\(x1),\(x2),\(x1 + 0.5 * x2 + Double.random(in: -0.4...0.4, using: &random) > 0 ? "yes" : "no")\n"
        }
        let directory = try ProcessRunner.makeTemporaryDirectory("binary")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("binary.csv")
        try text.write(to: data, atomically: true, encoding: .utf8)
        let common = [
            "--no-progress", "--data", "csv:\(data.path)", "--label-column", "label", "--epochs", "5", "--metrics", "roc_auc,average_precision,f1"
        ]
        let single = try SwiftTrainRunner.run(common + ["--checkpoint-dir", directory.appendingPathComponent("one").path, "--save-best", "roc_auc"])
        #expect(single.exitCode == 0, "\(single.standardError.suffix(800))")
        #expect(try SwiftTrainRunner.number(single, "test_roc_auc") > 0.8)
        #expect(try SwiftTrainRunner.number(single, "test_average_precision") > 0.7)
        let best = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("one").path)
        #expect(best.contains { $0.hasPrefix("best_checkpoint_roc_auc=") }, "\(best)")
        // Three ranks, each with its part of the test split: the areas over all of them.
        let distributed = try SwiftTrainRunner.run(common + ["--simulate-ranks", "3"])
        #expect(distributed.exitCode == 0, "\(distributed.standardError.suffix(800))")
        #expect(try SwiftTrainRunner.number(distributed, "test_roc_auc") > 0.8)
        let refused = try SwiftTrainRunner.run(common + ["--virtual-shards", "4"])
        #expect(refused.exitCode != 0 && refused.standardError.contains("--metrics"), "\(refused.standardError)")
    }

    @Test("a name no task has, one of another task, an area over 10 classes, or --save-best of an uncomputed metric is one clear line")
    func refusals() throws {
        let cases: [([String], String)] = [
            (["--metrics", "bogus"], "bogus"), (["--metrics", "accuracy,,f1"], "--metrics"), (["--metrics", "f1,f1"], "each metric once"),
            (["--builtin-samples", "300", "--metrics", "mse"], "mse"), (["--builtin-samples", "300", "--metrics", "roc_auc"], "binary"),
            (["--builtin-samples", "300", "--metrics", "top11_accuracy"], "at most"),
            (["--builtin-samples", "300", "--metrics", "f1", "--save-best", "accuracy", "--checkpoint-dir", "/tmp/never-made"], "--save-best")
        ]
        for (arguments, expected) in cases {
            let result = try SwiftTrainRunner.run(["--no-progress"] + arguments)
            #expect(result.exitCode != 0 && result.standardError.contains(expected), "\(arguments): \(result.standardError)")
            #expect(result.standardError.split(separator: "\n").count == 1, "\(arguments): \(result.standardError)")
        }
    }
}
