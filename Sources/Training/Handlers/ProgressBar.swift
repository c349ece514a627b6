import EngineCore
import Foundation

/// A progress line on standard error: epoch, iteration in the epoch, rate, ETA and running loss.
///
/// On a terminal it redraws one line in place; otherwise (logs, CI) it prints a plain line every
/// `plainEvery` iterations and at each epoch's end. Rank 0 only: other ranks attach nothing.
public final class ProgressBar {
    /// Where lines go.
    private let write: (String) -> Void
    /// Whether to redraw in place.
    public let isTerminal: Bool
    private let plainEvery: Int
    private var epochStart = DispatchTime.now().uptimeNanoseconds
    private var runStart = DispatchTime.now().uptimeNanoseconds
    private var runStartIteration = 0
    private var runningLoss: Double?

    /// A progress bar writing through `write` (default: standard error; terminal mode when it is a tty).
    public init(
        isTerminal: Bool? = nil, plainEvery: Int = 50,
        write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }
    ) {
        self.isTerminal = isTerminal ?? (isatty(STDERR_FILENO) != 0)
        self.plainEvery = plainEvery
        self.write = write
    }

    /// Attaches to a training engine; `loss` reads the batch loss of an output (kept as an α = 0.98
    /// running average).
    public func attach<Batch, Output>(to engine: Engine<Batch, Output>, loss: @escaping (Output) -> Double) throws {
        try engine.on(.started) { [self] engine in
            runStart = DispatchTime.now().uptimeNanoseconds
            runStartIteration = engine.state.iteration
        }
        try engine.on(.epochStarted) { [self] _ in epochStart = DispatchTime.now().uptimeNanoseconds }
        try engine.on(.iterationCompleted) { [self] engine in
            if let output = engine.state.output {
                let value = loss(output)
                runningLoss = runningLoss.map { 0.98 * $0 + 0.02 * value } ?? value
            }
            let length = engine.state.epochLength ?? 0
            let inEpoch = length > 0 ? (engine.state.iteration - 1) % length + 1 : engine.state.iteration
            if isTerminal || inEpoch % plainEvery == 0 { draw(engine.state, inEpoch: inEpoch, final: false) }
        }
        try engine.on(.epochCompleted) { [self] engine in
            draw(engine.state, inEpoch: engine.state.epochLength ?? 0, final: true)
        }
    }

    /// "42s", "3m05s", "1h02m".
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
        return String(format: "%dh%02dm", total / 3600, total % 3600 / 60)
    }

    private func draw(_ state: EngineState, inEpoch: Int, final: Bool) {
        let length = state.epochLength ?? 0
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9
        let rate = elapsed > 0 ? Double(inEpoch) / elapsed : 0
        let eta = rate > 0 ? Double(Swift.max(length - inEpoch, 0)) / rate : 0
        var line = "epoch \(state.epoch)/\(state.maxEpochs.map(String.init) ?? "?") [\(inEpoch)/\(length)]"
        if isTerminal && length > 0 {
            let filled = Swift.min(20, 20 * inEpoch / length)
            line += " |" + String(repeating: "#", count: filled) + String(repeating: "-", count: 20 - filled) + "|"
        }
        line += String(format: " %.0f it/s ETA %@", rate, Self.duration(eta))
        // The whole run: iterations left at the run's own rate so far.
        let runElapsed = Double(DispatchTime.now().uptimeNanoseconds - runStart) / 1e9
        let runRate = runElapsed > 0 ? Double(state.iteration - runStartIteration) / runElapsed : 0
        if let maxEpochs = state.maxEpochs, length > 0, runRate > 0 {
            let left = Double(Swift.max(length * maxEpochs - state.iteration, 0)) / runRate
            line += ", run \(Self.duration(left))"
        }
        if let runningLoss { line += String(format: " loss %.4f", runningLoss) }
        if final, let accuracy = state.metrics["test_accuracy"] { line += String(format: " test_accuracy %.4f", accuracy) }
        write(isTerminal ? "\r" + line + (final ? "\n" : "") : line + "\n")
    }
}
