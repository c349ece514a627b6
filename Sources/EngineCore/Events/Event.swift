import Synchronization

/// An event an engine fires: one of the standard events of the training loop or a custom one.
///
/// Events are open for extension, so users and libraries declare their own:
/// ```swift
/// extension Event { static let gradientsReady = Event("gradients ready") }
/// engine.registerEvents(.gradientsReady, counter: .iteration)
/// ```
/// Two events with the same name are the same event. Each carries a small integer identity so that
/// firing an event is an array lookup, never a string hash. An event may carry a filter
/// (`.iterationCompleted(every: 50)`): attached handlers then run only when the filter admits the
/// event's counter. Equality and hashing ignore the filter.
public struct Event: Hashable, Sendable, CustomStringConvertible {
    /// The event's name, as shown in logs and errors.
    public let name: String
    /// A process-wide small integer identity of the name (standard events take 0..<standardCount); each engine
    /// keeps its own tables of the custom events it registered.
    public let id: Int
    /// When attached handlers run; nil means at every occurrence.
    public let filter: EventFilter?

    /// Declares (or finds) the custom event called `name`.
    public init(_ name: String) {
        self.name = name
        self.id = EventRegistry.identifier(for: name)
        self.filter = nil
    }

    private init(standard name: String, id: Int) {
        self.name = name
        self.id = id
        self.filter = nil
    }

    init(_ event: Event, filter: EventFilter) {
        self.name = event.name
        self.id = event.id
        self.filter = filter
    }

    public var description: String { name }

    public static func == (lhs: Event, rhs: Event) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    // MARK: - Standard events (fixed identities, in the order of the loop)

    /// The run starts (fired once per `run`, again when a run resumes).
    public static let started = Event(standard: "STARTED", id: 0)
    /// An epoch starts.
    public static let epochStarted = Event(standard: "EPOCH_STARTED", id: 1)
    /// The engine is about to fetch a batch.
    public static let getBatchStarted = Event(standard: "GET_BATCH_STARTED", id: 2)
    /// A batch has been fetched into `state.batch`.
    public static let getBatchCompleted = Event(standard: "GET_BATCH_COMPLETED", id: 3)
    /// An iteration starts; a handler may still replace `state.batch`.
    public static let iterationStarted = Event(standard: "ITERATION_STARTED", id: 4)
    /// The process function has returned; its result is in `state.output`.
    public static let iterationCompleted = Event(standard: "ITERATION_COMPLETED", id: 5)
    /// An epoch has ended (not fired for a partial epoch ended by `terminate()`).
    public static let epochCompleted = Event(standard: "EPOCH_COMPLETED", id: 6)
    /// The run has ended.
    public static let completed = Event(standard: "COMPLETED", id: 7)
    /// An error was raised in the loop; `state.error` holds it.
    public static let exceptionRaised = Event(standard: "EXCEPTION_RAISED", id: 8)
    /// `terminate()` was called (or `maxIterations` reached mid-epoch); the run ends next.
    public static let terminate = Event(standard: "TERMINATE", id: 9)
    /// `terminateEpoch()` was called; the current epoch ends next.
    public static let terminateSingleEpoch = Event(standard: "TERMINATE_SINGLE_EPOCH", id: 10)
    /// The data source was found exhausted; a new pass over it starts.
    public static let dataLoaderStopIteration = Event(standard: "DATALOADER_STOP_ITERATION", id: 11)
    /// `interrupt()` was called; `run` returns next, and the next `run` continues from here.
    public static let interrupt = Event(standard: "INTERRUPT", id: 12)

    /// The standard events' identities as literals, for the loop (a static `Event` is a lazily initialised global).
    @usableFromInline enum ID {
        @inlinable static var started: Int { 0 }
        @inlinable static var epochStarted: Int { 1 }
        @inlinable static var getBatchStarted: Int { 2 }
        @inlinable static var getBatchCompleted: Int { 3 }
        @inlinable static var iterationStarted: Int { 4 }
        @inlinable static var iterationCompleted: Int { 5 }
        @inlinable static var epochCompleted: Int { 6 }
        @inlinable static var completed: Int { 7 }
        @inlinable static var exceptionRaised: Int { 8 }
        @inlinable static var terminate: Int { 9 }
        @inlinable static var terminateSingleEpoch: Int { 10 }
        @inlinable static var dataLoaderStopIteration: Int { 11 }
        @inlinable static var interrupt: Int { 12 }
    }

    /// Every standard event, indexed by `id`.
    public static let standardEvents: [Event] = [
        .started, .epochStarted, .getBatchStarted, .getBatchCompleted, .iterationStarted, .iterationCompleted,
        .epochCompleted, .completed, .exceptionRaised, .terminate, .terminateSingleEpoch, .dataLoaderStopIteration,
        .interrupt
    ]
    static let standardCount = 13
}

/// Which of the engine's counters an event's filters compare against.
public enum EventCounter: Sendable, Equatable {
    /// `state.iteration` (get-batch and iteration events).
    case iteration
    /// `state.epoch` (epoch events, started and completed).
    case epoch
    /// How many times this engine has fired the event (the default for custom events).
    case fires
    /// The Int in `state.storage[key]` (0 when absent): a count the engine's owner keeps and saves with
    /// `stateDictUserKeys`, so that filters (`every: n`) continue exactly after a resume.
    case stateValue(String)
}

/// Process-wide interning of custom event names to dense identities.
enum EventRegistry {
    private static let table = Mutex<[String: Int]>(
        Dictionary(uniqueKeysWithValues: Event.standardEvents.map { ($0.name, $0.id) }))

    static func identifier(for name: String) -> Int {
        table.withLock { table in
            if let id = table[name] { return id }
            let id = table.count
            table[name] = id
            return id
        }
    }
}
