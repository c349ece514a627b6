import Foundation
import TestSupport
import Testing

/// `--trace FILE`: the per-step timeline of every rank that Horovod's timeline users expect, as a Chrome trace.
@Suite("Chrome traces of a run")
struct TraceTests {
    struct Trace: Decodable {
        struct Event: Decodable {
            var name: String
            var cat: String?
            var ph: String
            var pid: Int
            var ts: Double?
            var dur: Double?
        }
        var traceEvents: [Event]
    }

    @Test("under mpirun -n 2, --trace writes one file with both ranks' products, kernels, all-reduce and iterations")
    func twoRanks() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("trace")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("trace.json").path
        let result = try SwiftTrainRunner.mpirun(ranks: 2, ["--no-progress", "--epochs", "1", "--builtin-samples", "2000", "--trace", path])
        #expect(result.exitCode == 0, "\(result.standardError)")
        let trace = try JSONDecoder().decode(Trace.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let spans = trace.traceEvents.filter { $0.ph == "X" }
        #expect(Set(spans.map(\.pid)) == [0, 1])
        for rank in [0, 1] {
            let categories = Set(spans.filter { $0.pid == rank }.compactMap(\.cat))
            #expect(categories.isSuperset(of: ["matmul", "elementwise", "allreduce", "data", "iteration"]), "rank \(rank): \(categories)")
            #expect(spans.filter { $0.pid == rank && $0.cat == "iteration" }.count == 10)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["trace.json"], "no temporary file is left")
    }

    @Test("--trace into a missing directory or over the training data is refused before training, in one line")
    func refusals() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("trace-bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = try SwiftTrainRunner.run([
            "--no-progress", "--epochs", "1", "--builtin-samples", "200",
            "--trace", directory.path + "/no/such/dir/trace.json"
        ])
        #expect(missing.exitCode != 0)
        #expect(missing.standardError.contains("trace.json") && !missing.standardError.contains("Fatal error"), "\(missing.standardError)")
        let data = directory.appendingPathComponent("data.csv")
        try SwiftTrainRunner.writeSyntheticCSV(rows: 60, to: data)
        let original = try Data(contentsOf: data)
        let over = try SwiftTrainRunner.run(["--no-progress", "--epochs", "1", "--data", "csv:" + data.path, "--trace", data.path])
        #expect(over.exitCode != 0)
        #expect(over.standardError.contains("--trace"), "\(over.standardError)")
        #expect(try Data(contentsOf: data) == original)
    }
}

/// `--lr-find N`: the learning-rate search on the configured run, alone and under mpirun.
@Suite("Learning-rate search from the command line")
struct LearningRateSearchCLITests {
    @Test("--lr-find prints the rates from --lr up to 10, their smoothed losses and a suggestion; mpirun -n 2 searches the same rates")
    func search() throws {
        let arguments = ["--no-progress", "--lr-find", "40", "--lr", "1e-4", "--builtin-samples", "2000"]
        for result in [try SwiftTrainRunner.run(arguments), try SwiftTrainRunner.mpirun(ranks: 2, arguments)] {
            #expect(result.exitCode == 0, "\(result.standardError)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.lastOutputLine.utf8)) as? [String: Any])
            let rates = try #require(summary["lr_find_rates"] as? [Double])
            let losses = try #require(summary["lr_find_losses"] as? [Double])
            #expect(rates.count == losses.count && rates.count >= 3 && rates.count <= 40)
            #expect(abs(rates[0] - 1e-4 * pow(1e5, 1.0 / 40)) < 1e-12)
            #expect(zip(rates, rates.dropFirst()).allSatisfy { $0 < $1 })
            let suggestion = try #require(summary["lr_suggestion"] as? Double)
            #expect(rates.contains(suggestion))
            #expect(summary["test_accuracy"] == nil, "nothing was trained")
        }
        let saving = try SwiftTrainRunner.run(["--no-progress", "--lr-find", "40", "--checkpoint-dir", "/tmp/unused-\(UUID().uuidString)"])
        #expect(saving.exitCode == 2 && saving.standardError.contains("--lr-find"))
    }

    @Test("swift-train lr-find searches, plots the loss against the rate with the suggestion, logs it, and report draws it")
    func subcommand() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("lr-find")
        defer { try? FileManager.default.removeItem(at: directory) }
        let plot = directory.appendingPathComponent("search.svg").path
        let log = directory.appendingPathComponent("search.jsonl").path
        let result = try SwiftTrainRunner.run([
            "lr-find", "--iterations", "40", "--plot", plot, "--no-progress", "--lr", "1e-4", "--builtin-samples", "2000", "--log", log
        ])
        #expect(result.exitCode == 0, "\(result.standardError)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(result.lastOutputLine.utf8)) as? [String: Any])
        let suggestion = try #require(summary["lr_suggestion"] as? Double)
        let figure = try String(contentsOfFile: plot, encoding: .utf8)
        #expect(figure.contains("<polyline") && figure.contains("learning rate") && figure.contains(String(format: "suggestion %.4g", suggestion)))
        let line = try #require(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").last { $0.contains("\"lr_find\"") })
        #expect(line.contains("\"rates\":[") && line.contains("\"suggestion\":"))
        let report = directory.appendingPathComponent("report.svg").path
        let drawn = try SwiftTrainRunner.run(["report", log, "--output", report])
        #expect(drawn.exitCode == 0, "\(drawn.standardError)")
        #expect(try String(contentsOfFile: report, encoding: .utf8).contains("Learning-rate search"))
        for (arguments, expected) in [
            (["--iterations", "1"], "--iterations"), (["--plot", "search.pdf"], ".svg or .png"), (["--lr-find", "5"], "--iterations"),
            (["--checkpoint-dir", directory.path], "saves nothing"), (["--resume", "x.safetensors"], "from the start")
        ] {
            let refused = try SwiftTrainRunner.run(["lr-find", "--no-progress"] + arguments)
            #expect(refused.exitCode == 2 && refused.standardError.contains(expected), "\(arguments): \(refused.standardError)")
        }
    }
}
