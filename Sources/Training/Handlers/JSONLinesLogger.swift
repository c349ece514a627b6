import EngineCore
import Foundation

/// Writes one JSON object per logged event to a file: event, epoch, iteration, elapsed time, world size,
/// learning rate and metrics. Only the writing rank (rank 0) writes.
///
/// `{"elapsed_s":0.5,"epoch":1,"event":"epoch_completed","iteration":45,"lr":0.05,"metrics":{"test_accuracy":0.91},"world_size":4}`
public final class JSONLinesLogger {
    private let file: AppendingFile?
    private let worldSize: Int
    private let learningRate: (() -> Double)?
    private let start = DispatchTime.now().uptimeNanoseconds

    /// A logger appending to `path` (created when missing); on a non-writing rank it writes nothing. A write that
    /// fails later (a full disk) stops the log with one report through `onWriteFailure`; the run goes on.
    /// - Throws: `OutputFileError.unwritable` when the file cannot be opened for writing.
    public init(
        path: String, worldSize: Int, isWriter: Bool = true, learningRate: (() -> Double)? = nil,
        onWriteFailure: @escaping (String) -> Void = AppendingFile.warn
    ) throws {
        self.worldSize = worldSize
        self.learningRate = learningRate
        guard isWriter else {
            file = nil
            return
        }
        file = try AppendingFile(path: path, onFailure: onWriteFailure)
    }

    /// Why the log stopped being written (a full disk), or nil.
    public var writeFailure: String? { file?.failure }

    /// Writes one line for `event` with the engine's counters and `metrics`.
    public func log(event: String, state: EngineState, metrics: [String: Double]) {
        guard let file else { return }
        var fields: [String] = [
            "\"elapsed_s\":\(format(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))",
            "\"epoch\":\(state.epoch)", "\"event\":\(StateJSON.quote(event))", "\"iteration\":\(state.iteration)"
        ]
        if let learningRate { fields.append("\"lr\":\(format(learningRate()))") }
        let metricFields = metrics.keys.sorted().map { "\(StateJSON.quote($0)):\(format(metrics[$0]!))" }
        fields.append("\"metrics\":{\(metricFields.joined(separator: ","))}")
        fields.append("\"world_size\":\(worldSize)")
        file.append(("{" + fields.joined(separator: ",") + "}\n").utf8)
    }

    /// Writes one line `{"event":"configuration","options":{...}}`: the run's effective options, first in the log.
    public func logConfiguration(_ options: [(name: String, value: String)]) {
        guard let file else { return }
        let fields = options.map { "\(StateJSON.quote($0.name)):\(StateJSON.quote($0.value))" }
        file.append("{\"event\":\"configuration\",\"options\":{\(fields.joined(separator: ","))},\"world_size\":\(worldSize)}\n".utf8)
    }

    /// Writes one line `{"event":"lr_find","rates":[...],"losses":[...],"suggestion":...}`: a learning-rate search's
    /// curve, which `swift-train report` draws.
    public func logLearningRateSearch(rates: [Double], losses: [Double], suggestion: Double?) {
        guard let file else { return }
        func list(_ values: [Double]) -> String { "[" + values.map(format).joined(separator: ",") + "]" }
        file.append(
            ("{\"epoch\":0,\"event\":\"lr_find\",\"iteration\":\(rates.count),\"losses\":\(list(losses)),\"rates\":\(list(rates)),"
                + "\"suggestion\":\(suggestion.map(format) ?? "null"),\"world_size\":\(worldSize)}\n").utf8)
    }

    /// Logs every `every` iterations (the `metrics` closure gives e.g. the running loss) and every epoch
    /// (with `state.metrics`).
    public func attach<Batch, Output>(
        to engine: Engine<Batch, Output>, every: Int,
        iterationMetrics: @escaping (Output) -> [String: Double]
    ) throws {
        try engine.on(.iterationCompleted(every: every)) { [self] engine in
            log(event: "iteration_completed", state: engine.state, metrics: engine.state.output.map(iterationMetrics) ?? [:])
        }
        try engine.on(.epochCompleted) { [self] engine in
            log(event: "epoch_completed", state: engine.state, metrics: engine.state.metrics)
        }
    }

    private func format(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
}
