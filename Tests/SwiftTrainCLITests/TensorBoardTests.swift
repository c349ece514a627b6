import Foundation
import TestSupport
import Testing

/// The event files open in TensorBoard itself: read back with the `tensorboard` Python package's reader.
@Suite("TensorBoard event files", .serialized)
struct TensorBoardTests {
    /// Whether Python's `tensorboard` package can be imported (launch/test installs it in its venv).
    static let readerAvailable = TestPython.imports("tensorboard")

    @Test(
        "--tensorboard writes the loss, learning rate, test metrics and samples/s that TensorBoard's reader reads",
        .enabled(if: readerAvailable, "skipped: the tensorboard Python package cannot be installed here"))
    func readBack() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = directory.appendingPathComponent("run1")
        let result = try SwiftTrainRunner.mpirun(
            ranks: 2,
            [
                "--no-progress", "--epochs", "3", "--builtin-samples", "600",
                "--tensorboard", run.path
            ])
        #expect(result.exitCode == 0, "\(result.standardError)")
        let files = try FileManager.default.contentsOfDirectory(atPath: run.path)
        #expect(files.count == 1 && files[0].hasPrefix("events.out.tfevents."), "rank 0 alone writes: \(files)")
        let script = """
            import json, sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            accumulator = EventAccumulator(sys.argv[1]); accumulator.Reload()
            print(json.dumps({tag: [[event.step, event.value] for event in accumulator.Scalars(tag)]
                              for tag in accumulator.Tags()["scalars"]}))
            """
        let read = try ProcessRunner.run("/usr/bin/env", [TestPython.path, "-c", script, run.path], timeout: 120)
        #expect(read.exitCode == 0, "\(read.standardError)")
        let scalars = try #require(try JSONSerialization.jsonObject(with: Data(read.lastOutputLine.utf8)) as? [String: [[Double]]])
        for tag in ["train/loss", "train/learning_rate", "test/accuracy", "test/loss", "train/samples_per_s"] {
            #expect(scalars[tag]?.isEmpty == false, "\(tag) in \(scalars.keys.sorted())")
        }
        #expect(scalars["test/accuracy"]?.count == 3)
        #expect(scalars["train/learning_rate"]?.allSatisfy { abs($0[1] - 0.05) < 1e-6 } == true)
        let accuracy = try SwiftTrainRunner.number(result, "test_accuracy")
        #expect(abs((scalars["test/accuracy"]?.last?[1] ?? 0) - accuracy) < 1e-6)
    }
}
