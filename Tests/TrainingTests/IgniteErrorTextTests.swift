import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

/// Ignite's error messages (from pytorch-ignite 0.5.5's source, which its tests match) beside ours: ours name the
/// argument in Swift terms and say the same rule; a metric with nothing to compute says Ignite's very sentence.
@Suite("Error texts say what Ignite's say")
struct IgniteErrorTextTests {
    /// Ignite's message, what raises ours, and the words ours must contain.
    struct Case: CustomTestStringConvertible, Sendable {
        let ignite: String
        let raise: @Sendable () throws -> Void
        let words: [String]
        var testDescription: String { ignite }
    }

    /// A fresh model for each case (models are not shared between tests).
    static func model() throws -> Sequential { try Sequential([Linear(inputs: 2, outputs: 1)], inputShape: [2], seed: 0) }

    static let cases: [Case] = [
        Case(
            ignite: "Argument patience should be positive integer.",
            raise: { _ = try EarlyStopping(patience: 0, scoreFunction: { _ in 0 }, trainer: Engine<Int, Int> { _, b in b }) },
            words: ["patience", "0", "at least 1"]),
        Case(
            ignite: "Argument min_delta should not be a negative number.",
            raise: { _ = try EarlyStopping(patience: 1, scoreFunction: { _ in 0 }, trainer: Engine<Int, Int> { _, b in b }, minDelta: -1) },
            words: ["minDelta", "-1", "not negative"]),
        Case(
            ignite: "Argument limit_sec should be a positive integer.", raise: { _ = try TimeLimit(seconds: -5) },
            words: ["seconds", "-5", "positive"]),
        Case(
            ignite: "n_saved must be a positive integer or None, got 0",
            raise: {
                _ = try Checkpoint(
                    toSave: ["model": ModelState(try model())], directory: URL(fileURLWithPath: "/tmp/never-\(UUID())"), numberSaved: 0)
            },
            words: ["numberSaved", "0", "positive"]),
        Case(
            ignite: "Cannot have key 'checkpointer' if `include_self` is True",
            raise: {
                let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("never-\(UUID())")
                defer { try? FileManager.default.removeItem(at: directory) }
                _ = try Checkpoint(toSave: ["checkpointer": ModelState(try model())], directory: directory, includeSelf: true)
                    .save(iteration: 1, epoch: 1)
            }, words: ["checkpointer", "includeSelf"]),
        Case(
            ignite: "Argument alpha should be a float between 0.0 and 1.0.", raise: { _ = try RunningAverage(alpha: 1.5) },
            words: ["alpha", "1.5", "(0, 1)"]),
        Case(
            ignite: "Argument warmup_duration should be at least 2 events, but given 1",
            raise: { _ = try LearningRateScheduler.warmup(events: 1) { _ in 0.1 } }, words: ["events", "1", "at least 2"]),
        Case(
            ignite: "Argument cycle_size should be positive and larger than 1, but given 1",
            raise: { _ = try LearningRateScheduler.cyclical(.linear, start: 1, end: 0, cycleSize: 1) }, words: ["cycleSize", "1", "at least 2"]),
        Case(
            ignite: "Argument milestones_values should be with at least one value",
            raise: { _ = try LearningRateScheduler.piecewiseLinear([]) }, words: ["piecewiseLinear", "at least one milestone"]),
        Case(
            ignite: "Milestones should be increasing integers",
            raise: { _ = try LearningRateScheduler.piecewiseLinear([(event: 5, value: 1), (event: 2, value: 0)]) },
            words: ["2", "increasing"]),
        Case(ignite: "Argument num_classes needs to be > 1", raise: { _ = try ConfusionMatrix(classes: 1) }, words: ["classes", "1", "at least 2"]),
        Case(
            ignite: "Argument factor should be between 0 and 1",
            raise: {
                _ = try ReduceLROnPlateau(target: OptimizerLearningRate(SGD(arena: try model().arena, learningRate: 0.1)), factor: 1.5)
            }, words: ["factor", "1.5", "(0, 1)"]),
        Case(
            ignite: "Argument every should be integer and greater than zero",
            raise: { try Engine<Int, Int> { _, b in b }.on(.iterationCompleted(every: 0)) { _ in } }, words: ["every", "at least 1", "0"]),
        Case(
            ignite: "Argument before should be integer and greater or equal to zero",
            raise: { try Engine<Int, Int> { _, b in b }.on(.iterationCompleted(before: -1)) { _ in } }, words: ["before", "negative", "-1"]),
        Case(
            ignite: "Accuracy must have at least one example before it can be computed.", raise: { _ = try Accuracy().compute() },
            words: ["Accuracy must have at least one example before it can be computed"]),
        Case(
            ignite: "Loss must have at least one example before it can be computed.", raise: { _ = try Loss().compute() },
            words: ["Loss must have at least one example before it can be computed"]),
        Case(
            ignite: "Confusion matrix must have at least one example before it can be computed.",
            raise: { _ = try ConfusionMatrix(classes: 3).computeMatrix() }, words: ["must have at least one example before it can be computed"]),
        Case(
            ignite: "MeanSquaredError must have at least one example before it can be computed.",
            raise: { _ = try MeanSquaredErrorMetric().compute() },
            words: ["MeanSquaredError must have at least one example before it can be computed"])
    ]

    @Test("ours names the argument and says the same rule", arguments: cases)
    func sameRule(_ entry: Case) {
        do {
            try entry.raise()
            Issue.record("no error for: \(entry.ignite)")
        } catch {
            let text = String(describing: error)
            for word in entry.words { #expect(text.contains(word), "\(text) lacks '\(word)' (Ignite: \(entry.ignite))") }
        }
    }
}
