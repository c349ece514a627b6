import Dispatch
import EngineCore
import Training

/// The run's training time and samples, for the summary's and TensorBoard's samples per second: evaluation and
/// checkpoint writing are timed apart and left out.
final class RunClock {
    /// Samples trained by the whole world since the run started.
    private(set) var samples = 0
    /// Seconds spent training (evaluation and checkpoints excluded), once the run completed.
    private(set) var trainingSeconds = 0.0
    private var start = 0.0
    private var excluded = 0.0

    /// Seconds on a monotonic clock.
    static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Counts `trainer`'s samples over `worldSize` ranks and its training time.
    func attach(to trainer: Engine<SupervisedBatch, SupervisedOutput>, worldSize: Int) throws {
        try trainer.on(.started) { [self] _ in
            start = Self.now
            excluded = 0
            samples = 0
        }
        try trainer.on(.iterationCompleted) { [self] engine in samples += engine.state.output!.count * worldSize }
        try trainer.on(.completed) { [self] _ in trainingSeconds = Self.now - start - excluded }
    }

    /// Runs `body` with its time left out of the training time.
    func excluding<T>(_ body: () throws -> T) rethrows -> T {
        let started = Self.now
        defer { excluded += Self.now - started }
        return try body()
    }

    /// Samples per second of training time.
    var samplesPerSecond: Double { trainingSeconds > 0 ? Double(samples) / trainingSeconds : 0 }
}
