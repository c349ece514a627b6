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

    /// A handler as attached: its body, its filter, and the token its handle removes it by.
    @usableFromInline final class HandlerEntry {
        @inlinable init(token: Int, filter: EventFilter?, body: @escaping Handler) {
            self.token = token
            self.filter = filter
            self.body = body
            switch filter {
            case .none: every = 1
            case .every(let n)?: every = n
            default: every = 0
            }
            if case .predicate(let test)? = filter {
                admits = test
            } else {
                admits = { [filter] engine, value in filter?.admits(value, engine: engine) ?? true }
            }
        }
        @usableFromInline let token: Int
        @usableFromInline let body: Handler
        /// The fast path of the common filters: 1 for none, n for `every(n)`, 0 for the others.
        @usableFromInline let every: Int
        @usableFromInline let filter: EventFilter?
        /// For `every` > 1, the next counter value that is a multiple of it (a cache that saves a division per firing).
        @exclusivity(unchecked) @usableFromInline var nextMultiple = 0
        /// The filter as a closure, called without copying the filter (a predicate is called as it is).
        @usableFromInline let admits: @Sendable (any AnyEngine, Int) -> Bool

        /// Whether `value` is a multiple of `every` (> 1): the cached next multiple, recomputed when the counter jumped.
        @inlinable @inline(__always)
        func isMultiple(_ value: Int) -> Bool {
            let distance = nextMultiple &- value
            if distance == 0 {
                nextMultiple = value &+ every
                return true
            }
            if distance > 0 && distance < every { return false }
            let remainder = value % every
            nextMultiple = value &- remainder &+ (remainder < 0 ? 0 : every)
            return remainder == 0
        }
    }

    /// The counter an event's filters read, without a payload to copy when firing.
    @usableFromInline enum CounterKind: UInt8 {
        case iteration, epoch, fires, stateValue
    }

    /// Counters, limits, the current batch and output, metrics and user storage.
    public let state = State<Batch, Output>()
    /// Names of user-storage values saved by `stateDict()` besides the engine's own counters.
    public var stateDictUserKeys: [String] = []
    /// Set by a process function that keeps its own progress within an iteration in `stateDictUserKeys` (the
    /// truncated-BPTT trainer's chunk position): a state dict taken from `.iterationStarted` until the process
    /// function returns then records that iteration as not yet done, so a resumed run fetches the same batch and
    /// the process function continues from its saved progress.
    public var resumesWithinIteration = false
    /// Receives the engine's warnings (data exhausted early); prints to standard error by default.
    public var warningHandler: (String) -> Void = { message in
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    // The loop's own fields skip dynamic exclusivity checks: only the engine's loop mutates them, on one thread,
    // never while a handler holds an inout access to them (B1: 150 -> 50 ns per iteration without a flag).
    @usableFromInline let process: ProcessFunction
    /// The handlers of each event slot, in the order attached: they own the entries `firing` points at.
    @exclusivity(unchecked) @usableFromInline var handlers: [[HandlerEntry]] {
        didSet { firing.update(from: handlers, every: \.every) }
    }
    /// What the loop fires: each slot's entries, unretained (B1: firing retains nothing).
    @usableFromInline let firing = FiringTables<HandlerEntry>()
    @exclusivity(unchecked) @usableFromInline var counters: [EventCounter]
    /// `counters` without payloads, for firing; the user-storage keys of `.stateValue` counters by slot.
    @exclusivity(unchecked) @usableFromInline var counterKinds: [CounterKind]
    @exclusivity(unchecked) @usableFromInline var counterKeys: [Int: String] = [:]
    /// Bit `slot` set when the standard event in that slot has handlers: firing an unattended event of an
    /// iteration is one test (B1).
    @exclusivity(unchecked) @usableFromInline var attachedStandardEvents: UInt64 = 0
    @exclusivity(unchecked) @usableFromInline var fireCounts: [Int]
    var nextToken = 0
    @exclusivity(unchecked) @usableFromInline var lastEventID = -1
    /// Where the run is and what it does next; kept across `interrupt()` (with `suspendedSource`).
    @exclusivity(unchecked) @usableFromInline var cursor = RunCursor()
    /// What handlers asked of the running loop (terminate, terminate the epoch, interrupt), honoured between steps.
    @exclusivity(unchecked) @usableFromInline var requests: RunRequests = []
    /// An interrupted run's data pass, continued by the next `run`.
    @usableFromInline var suspendedSource: ErasedSource<Batch>?
    /// Whether `run` is executing (a nested call from a handler is refused).
    @usableFromInline var isRunning = false
    /// Whether the `.epochStarted` being fired starts the rest of an epoch a loaded state dict stopped inside (an
    /// epoch-wise metric restored from the same checkpoint keeps its sums then, instead of resetting them).
    public var resumesWithinEpoch: Bool { resumingWithinEpoch }
    @usableFromInline var resumingWithinEpoch = false
    /// Set by `loadStateDict`: the next `run` asks resumable data where the loaded run continues.
    @usableFromInline var repositionsOnNextRun = false
    /// Data given to `setData(_:)`, put in place at the next fetch.
    @exclusivity(unchecked) @usableFromInline var pendingData: ErasedSource<Batch>?

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
        counterKinds = counters.map(CounterKind.init)
        firing.update(from: handlers, every: \.every)
    }

    /// The engine's state, seen without its batch and output types.
    public var engineState: EngineState { state }

    /// Ends the run after the current event: `.terminate` fires, then `.completed` unless `skipCompleted`.
    /// A partial epoch does not fire `.epochCompleted`.
    public func terminate(skipCompleted: Bool) {
        requests.insert(.terminate)
        if skipCompleted { requests.insert(.skipCompleted) } else { requests.remove(.skipCompleted) }
    }

    /// Stops the run after the current event: `.interrupt` fires and `run` returns; the next `run` continues
    /// exactly there, with the same data iterator, firing neither `.started` nor `.epochStarted` again.
    public func interrupt() {
        requests.insert(.interrupt)
    }

    /// Replaces the data mid-run: the next batch comes from `data` (a resumable source at the run's position,
    /// any other from its beginning); the epoch length stays as it is. Ignite's `set_data`.
    public func setData<Data: Sequence>(_ data: Data) where Data.Element == Batch {
        pendingData = ErasedSource(data)
    }

    /// Ends the current epoch after the current event: `.terminateSingleEpoch` fires, then `.epochCompleted`
    /// unless skipped; the data restarts and the next epoch begins.
    public func terminateEpoch(skipEpochCompleted: Bool) {
        requests.insert(.terminateEpoch)
        if skipEpochCompleted { requests.insert(.skipEpochCompleted) } else { requests.remove(.skipEpochCompleted) }
    }

    /// The last event fired, if any.
    public var lastEvent: Event? {
        guard lastEventID >= 0 else { return nil }
        return lastEventID < Event.standardCount ? Event.standardEvents[lastEventID] : customEvent(lastEventID)
    }

    /// Custom events by table slot, and the slot of each custom event identity.
    var customEvents: [Int: Event] = [:]
    var customSlots: [Int: Int] = [:]
    func customEvent(_ slot: Int) -> Event? { customEvents[slot] }
}
