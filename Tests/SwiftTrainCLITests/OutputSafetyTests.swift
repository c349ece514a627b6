import Foundation
import TestSupport
import Testing

/// Outputs never replace inputs, a full disk never traps, and `report` draws any log in bounded time.
@Suite("Outputs: nothing overwritten, nothing half-written, a full disk said", .serialized)
struct OutputSafetyTests {
    static let small = ["--no-progress", "--builtin-samples", "300", "--model", "mlp:16"]

    @Test("predict, report and --log refuse an output that is one of their inputs, also through a link")
    func outputIsInput() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("output-input")
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try SwiftTrainRunner.writeSyntheticCSV(rows: 200, to: URL(fileURLWithPath: path("data.csv")))
        let original = try Data(contentsOf: URL(fileURLWithPath: path("data.csv")))
        let trained = try SwiftTrainRunner.run([
            "--data", "csv:" + path("data.csv"), "--epochs", "2", "--no-progress",
            "--checkpoint-dir", path("ck"), "--log", path("run.jsonl")
        ])
        #expect(trained.exitCode == 0, "\(trained.standardError)")
        let checkpoint = try SwiftTrainRunner.string(trained, "checkpoint")
        try FileManager.default.createSymbolicLink(atPath: path("link.csv"), withDestinationPath: path("data.csv"))
        for output in [path("data.csv"), path("link.csv")] {
            let predicted = try SwiftTrainRunner.run([
                "predict", "--checkpoint", checkpoint, "--data", "csv:" + path("data.csv"),
                "--output", output
            ])
            #expect(predicted.exitCode != 0 && predicted.standardError.contains("is the same file as --data"), "\(predicted.standardError)")
        }
        let overCheckpoint = try SwiftTrainRunner.run([
            "predict", "--checkpoint", checkpoint, "--data", "csv:" + path("data.csv"),
            "--output", checkpoint
        ])
        #expect(overCheckpoint.exitCode != 0 && overCheckpoint.standardError.contains("is the same file as --checkpoint"))
        let logBefore = try Data(contentsOf: URL(fileURLWithPath: path("run.jsonl")))
        let report = try SwiftTrainRunner.run(["report", path("run.jsonl"), "--output", path("run.jsonl")])
        #expect(report.exitCode != 0 && report.standardError.contains("is the same file as log"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("run.jsonl"))) == logBefore)
        let logOverData = try SwiftTrainRunner.run([
            "--data", "csv:" + path("data.csv"), "--epochs", "1", "--no-progress",
            "--log", path("link.csv")
        ])
        #expect(logOverData.exitCode == 2 && logOverData.standardError.contains("--log"), "\(logOverData.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("data.csv"))) == original)
    }

    @Test("a log on a full device ends in one warning naming it, and the run completes")
    func fullLog() throws {
        let result = try SwiftTrainRunner.run(Self.small + ["--epochs", "2", "--log", "/dev/full"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardError.contains("/dev/full: No space left on device; nothing more is written to it"))
        #expect(result.standardError.components(separatedBy: "No space left").count == 2)
        #expect(try SwiftTrainRunner.number(result, "epoch") == 2)
    }

    @Test("a file system that fills mid-run stops the log and the TensorBoard file with a warning each")
    func fillingFileSystem() throws {
        let mountPoint = try ProcessRunner.makeTemporaryDirectory("small-fs")
        defer { try? FileManager.default.removeItem(at: mountPoint) }
        let mount = try ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mountPoint.path])
        guard mount.exitCode == 0 else {
            print("SKIPPED: a 64 KiB tmpfs cannot be mounted here (needs root): \(mount.standardError)")
            return
        }
        defer { _ = try? ProcessRunner.run("/bin/umount", [mountPoint.path]) }
        // Leave about 4 KiB free, so the log and event file fill it after a few entries.
        let filler = mountPoint.appendingPathComponent("filler")
        try Data(count: 60 * 1024).write(to: filler)
        let result = try SwiftTrainRunner.run(
            Self.small + [
                "--epochs", "30", "--eval-every", "1",
                "--log", mountPoint.appendingPathComponent("run.jsonl").path,
                "--tensorboard", mountPoint.appendingPathComponent("tb").path
            ])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardError.contains("run.jsonl: No space left on device"), "\(result.standardError)")
        #expect(result.standardError.contains("swift-train: No space left on device"), "\(result.standardError)")
        #expect(try SwiftTrainRunner.number(result, "epoch") == 30)
    }

    @Test("report draws values from 1e-300 to 1e300 at once, and says what it skipped (negative epochs, huge values)")
    func reportBounds() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("report-bounds")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("wide.jsonl")
        let figure = directory.appendingPathComponent("wide.svg")
        let lines = [(1, 1e-300), (2, 1e300), (3, 1e99), (-4, 1.0)].map { epoch, value in
            "{\"event\":\"epoch_completed\",\"epoch\":\(epoch),\"iteration\":\(abs(epoch) * 10),\"metrics\":{\"train_loss\":\(value),\"test_loss\":\(value)}}"
        }
        try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: true, encoding: .utf8)
        let started = Date()
        let result = try SwiftTrainRunner.run(["report", log.path, "--output", figure.path], timeout: 60)
        #expect(result.exitCode == 0 && Date().timeIntervalSince(started) < 30, "\(result.standardError)")
        #expect(result.standardError.contains("skipped 1 entries with a negative epoch or iteration"))
        #expect(result.standardError.contains("skipped 2 values that are not finite or beyond ±1e100"))
        let svg = try String(contentsOf: figure, encoding: .utf8)
        #expect(svg.hasSuffix("</svg>\n") && !svg.contains("nan") && !svg.contains("inf"))
        #expect(svg.components(separatedBy: "stroke=\"#eee\"").count < 40)
    }
}
