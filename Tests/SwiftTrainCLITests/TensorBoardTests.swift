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
            accumulator = EventAccumulator(sys.argv[1], size_guidance={"histograms": 0, "scalars": 0}); accumulator.Reload()
            scalars = {tag: [[event.step, event.value] for event in accumulator.Scalars(tag)]
                       for tag in accumulator.Tags()["scalars"]}
            for tag in accumulator.Tags()["histograms"]:
                scalars["histogram:" + tag] = [[event.step, event.histogram_value.num, sum(event.histogram_value.bucket),
                                                event.histogram_value.min, event.histogram_value.max]
                                               for event in accumulator.Histograms(tag)]
            print(json.dumps(scalars))
            """
        let read = try ProcessRunner.run("/usr/bin/env", [TestPython.path, "-c", script, run.path], timeout: 120)
        #expect(read.exitCode == 0, "\(read.standardError)")
        let scalars = try #require(try JSONSerialization.jsonObject(with: Data(read.lastOutputLine.utf8)) as? [String: [[Double]]])
        for tag in ["train/loss", "train/learning_rate", "test/accuracy", "test/loss", "train/samples_per_s"] {
            #expect(scalars[tag]?.isEmpty == false, "\(tag) in \(scalars.keys.sorted())")
        }
        #expect(scalars["test/accuracy"]?.count == 3)
        // Ignite's weight and gradient handlers: a norm and a histogram per parameter and epoch. The default model
        // is an MLP whose first layer's weight is 64 x 128 (digits' 64 features).
        let weightTags = scalars.keys.filter { $0.hasPrefix("weights_norm/") }.sorted()
        #expect(!weightTags.isEmpty && weightTags.count == scalars.keys.filter { $0.hasPrefix("grads_norm/") }.count, "\(scalars.keys.sorted())")
        for tag in weightTags {
            let name = tag.dropFirst("weights_norm/".count)
            #expect(scalars[tag]?.count == 3 && scalars[tag]!.allSatisfy { $0[1] > 0 })
            for kind in ["weights", "grads"] {
                let histograms = try #require(scalars["histogram:\(kind)/\(name)"], "\(kind)/\(name)")
                #expect(histograms.count == 3)
                // Every value lands in a bucket, between the histogram's minimum and maximum.
                #expect(histograms.allSatisfy { $0[1] > 0 && $0[1] == $0[2] && $0[3] <= $0[4] })
            }
        }
        let firstWeight = try #require(weightTags.first.flatMap { scalars["histogram:weights/\($0.dropFirst("weights_norm/".count))"] })
        #expect(firstWeight.allSatisfy { $0[1] == 64 * 128 || $0[1] == 128 }, "\(firstWeight)")
        #expect(scalars["train/learning_rate"]?.allSatisfy { abs($0[1] - 0.05) < 1e-6 } == true)
        let accuracy = try SwiftTrainRunner.number(result, "test_accuracy")
        #expect(abs((scalars["test/accuracy"]?.last?[1] ?? 0) - accuracy) < 1e-6)
    }
}
