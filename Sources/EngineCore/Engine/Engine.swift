import Foundation

/// The training loop: runs a process function over batches of data for a number of epochs, firing events
/// that attached handlers respond to.
///
/// ```swift
/// let trainer = Engine<Batch, Float> { engine, batch in model.step(batch) }
/// try trainer.on(.iterationCompleted(every: 50)) { engine in print(engine.state.output!) }
/// try trainer.run(loader, maxEpochs: 100)
/// ```
/// The engine knows nothing of tensors or MPI: distribution and metrics are handlers and data sources.
public final class Engine<Batch, Output>: AnyEngine {
    /// Turns one batch into an output; runs once per iteration.
    public typealias ProcessFunction = (Engine<Batch, Output>, Batch) throws -> Output
    /// Code run when an event fires.
    public typealias Handler = (Engine<Batch, Output>) throws -> Void

    @usableFromInline struct HandlerEntry {
        @inlinable init(token: Int, filter: EventFilter?, body: @escaping Handler) {
            self.token = token
            self.filter = filter
            self.body = body
        }
        @usableFromInline let token: Int
        @usableFromInline let filter: EventFilter?
        @usableFromInline let body: Handler
    }

    /// Counters, limits, the current batch and output, metrics and user storage.
    public let state = State<Batch, Output>()
    /// Names of user-storage values saved by `stateDict()` besides the engine's own counters.
    public var stateDictUserKeys: [String] = []
    /// Receives the engine's warnings (data exhausted early); prints to standard error by default.
    public var warningHandler: (String) -> Void = { message in
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    // The loop's own fields skip dynamic exclusivity checks: only the engine's loop mutates them, on one thread,
    // never while a handler holds an inout access to them (B1: 150 -> 50 ns per iteration without a flag).
    @usableFromInline let process: ProcessFunction
    @exclusivity(unchecked) @usableFromInline var handlers: [[HandlerEntry]]
    @exclusivity(unchecked) @usableFromInline var counters: [EventCounter?]
    @exclusivity(unchecked) @usableFromInline var fireCounts: [Int]
    var nextToken = 0
    /// Set by `terminate()` or `terminateEpoch()`; checked after every event.
    @exclusivity(unchecked) @usableFromInline var interruptRequested = false
    @exclusivity(unchecked) @usableFromInline var shouldTerminate = false
    @exclusivity(unchecked) @usableFromInline var shouldTerminateSingleEpoch = false
    @exclusivity(unchecked) @usableFromInline var skipCompletedAfterTermination = false
    @exclusivity(unchecked) @usableFromInline var skipEpochCompletedAfterTermination = false
    @exclusivity(unchecked) @usableFromInline var lastEventID = -1
    /// Whether the last run reached its end (not terminated, not failed): the next `run` starts anew.
    @exclusivity(unchecked) @usableFromInline var finishedRun = false

    /// Creates an engine around its process function.
    public init(_ process: @escaping ProcessFunction) {
        self.process = process
        handlers = Array(repeating: [], count: Event.standardCount)
        counters = Event.standardEvents.map { event -> EventCounter in
            switch event {
            case .getBatchStarted, .getBatchCompleted, .iterationStarted, .iterationCompleted: .iteration
            case .started, .epochStarted, .epochCompleted, .completed: .epoch
            default: .fires
            }
        }
        fireCounts = Array(repeating: 0, count: Event.standardCount)
    }

    public var engineState: EngineState { state }

    /// Ends the run after the current event: `.terminate` fires, then `.completed` unless `skipCompleted`.
    /// A partial epoch does not fire `.epochCompleted`.
    public func terminate(skipCompleted: Bool) {
        shouldTerminate = true
        skipCompletedAfterTermination = skipCompleted
        interruptRequested = true
    }

    /// Ends the current epoch after the current event: `.terminateSingleEpoch` fires, then `.epochCompleted`
    /// unless skipped; the data restarts and the next epoch begins.
    public func terminateEpoch(skipEpochCompleted: Bool) {
        shouldTerminateSingleEpoch = true
        skipEpochCompletedAfterTermination = skipEpochCompleted
        interruptRequested = true
    }

    /// The last event fired, if any.
    public var lastEvent: Event? {
        guard lastEventID >= 0 else { return nil }
        return lastEventID < Event.standardCount ? Event.standardEvents[lastEventID] : customEvent(lastEventID)
    }

    var customEvents: [Int: Event] = [:]
    func customEvent(_ id: Int) -> Event? { customEvents[id] }
}
