/// A misuse of the engine that a user can cause: bad run arguments, unknown events, bad state dicts.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    case conflictingLimits
    case invalidLimit(String)
    case missingEpochLength
    case unregisteredEvent(String)
    case filterOnUncountedEvent(String)
    case handlerNotAttached(String)
    case terminateEpochOutsideEpoch(String)
    case resumeMismatch(String)
    case emptyData
    case limitSwitch(String)
    case invalidFilter(String)
    case foreignHandle
    /// `run` called while this engine is running (from one of its handlers or its process function).
    case reentrantRun
    /// A handler set `state.batch` to nil before the process function ran.
    case batchRemoved

    public var description: String {
        switch self {
        case .conflictingLimits: "maxEpochs and maxIterations are mutually exclusive"
        case .reentrantRun:
            "run was called while this engine is running (from its own handler or process function); call it after run "
                + "returns, or change the data with setData(_:)"
        case .batchRemoved: "a handler set state.batch to nil before the process function ran"
        case .invalidLimit(let why): "invalid run limit: \(why)"
        case .missingEpochLength: "epochLength is required when the engine runs without data"
        case .unregisteredEvent(let name): "event '\(name)' is not registered with this engine (use registerEvents)"
        case .filterOnUncountedEvent(let name): "event '\(name)' has no counter to filter on"
        case .handlerNotAttached(let name): "no such handler is attached to event '\(name)'"
        case .terminateEpochOutsideEpoch(let name):
            "terminateEpoch() cannot be called from a \(name) handler: no epoch is running yet"
        case .resumeMismatch(let why): "cannot resume: \(why)"
        case .emptyData: "input data has zero size: give data with at least one batch"
        case .limitSwitch(let why): "cannot switch the run's limit \(why)"
        case .invalidFilter(let why): "invalid event filter: \(why)"
        case .foreignHandle: "the handle belongs to another engine"
        }
    }
}
