/// The engine's state without its batch and output types: counters, limits, metrics, times, user storage.
///
/// Handlers that do not need the batch or output (checkpoints, early stopping, loggers, timers) read this.
public class EngineState {
    /// Iterations completed over the whole run; 0 before the run, the first iteration is 1.
    @exclusivity(unchecked) public var iteration = 0
    /// Epochs started; 0 before the run, the first epoch is 1.
    @exclusivity(unchecked) public var epoch = 0
    /// Number of epochs to run; exclusive with `maxIterations`.
    @exclusivity(unchecked) public var maxEpochs: Int?
    /// Number of iterations to run; exclusive with `maxEpochs`.
    @exclusivity(unchecked) public var maxIterations: Int?
    /// Iterations per epoch: the data's count unless given; found at the first exhaustion for one-pass data.
    @exclusivity(unchecked) public var epochLength: Int?
    /// Metric values by name, written by metrics at the end of each epoch.
    public var metrics: [String: Double] = [:]
    /// The seed of the run, for handlers and data loaders that draw random numbers.
    public var seed: UInt64 = 0
    /// Seconds spent, by event: the last epoch under `.epochCompleted`, the whole run under `.completed`.
    public var times: [Event: Double] = [:]
    /// The error being handled while `.exceptionRaised` handlers run, and after a run it ended.
    public var error: (any Error)?
    var storage: [String: Any] = [:]

    init() {}

    /// Typed user storage: the Swift form of Ignite's `engine.state.new_attribute = value`.
    public subscript<Value>(key: StateKey<Value>) -> Value? {
        get { storage[key.name] as? Value }
        set { storage[key.name] = newValue }
    }

    /// Names of the values in user storage.
    public var storedKeys: [String] { storage.keys.sorted() }

    /// The Int stored under `key` (0 when absent): an event counter kept in user storage.
    @usableFromInline func userCount(_ key: String) -> Int { storage[key] as? Int ?? 0 }
}

/// A typed key into `EngineState`'s user storage.
///
/// ```swift
/// extension StateKey where Value == Double { static let bestLoss = StateKey("best_loss") }
/// engine.state[.bestLoss] = 0.12
/// ```
public struct StateKey<Value>: Sendable {
    /// The key's name, also the state-dict key when the value is declared as saved.
    public let name: String
    /// Declares a key.
    public init(_ name: String) { self.name = name }
}

/// The full state of an `Engine`: counters and storage, plus the current batch and output.
public final class State<Batch, Output>: EngineState {
    /// The batch being processed; nil before each fetch. A handler on `.iterationStarted` may replace it.
    @exclusivity(unchecked) public var batch: Batch?
    /// What the process function returned for the current batch; nil before each iteration.
    @exclusivity(unchecked) public var output: Output?

    override init() { super.init() }
}
