/// An engine seen without its batch and output types.
///
/// Reusable handlers (checkpoints, early stopping, timers, loggers, metrics' bookkeeping) are written
/// against this protocol so that they attach to any `Engine<Batch, Output>`.
public protocol AnyEngine: AnyObject {
    /// Counters, limits, metrics, times and user storage.
    var engineState: EngineState { get }
    /// Ends the run after the current event: `.terminate`, then `.completed` unless skipped.
    func terminate(skipCompleted: Bool)
    /// Ends the current epoch after the current event: `.terminateSingleEpoch`, then `.epochCompleted`.
    func terminateEpoch(skipEpochCompleted: Bool)
    /// Stops the run after the current event, firing `.interrupt`; the next `run` continues from there.
    func interrupt()
    /// Registers custom events so handlers can attach to them and `fireEvent` can fire them.
    func registerEvents(_ events: [Event], counter: EventCounter)
    /// Fires a registered custom event now, running its handlers.
    func fireEvent(_ event: Event) throws
    /// Attaches a type-erased handler; see `Engine.addEventHandler(_:_:)`.
    @discardableResult
    func addEventHandler(_ event: Event, erased handler: @escaping (any AnyEngine) throws -> Void)
        throws -> RemovableHandle
    /// Whether any handler is attached to `event`.
    func hasEventHandler(for event: Event) -> Bool
    /// Whether `event` can be attached to and fired on this engine.
    func isRegistered(_ event: Event) -> Bool
}

extension AnyEngine {
    /// Ends the run after the current event, firing `.terminate` then `.completed`.
    public func terminate() { terminate(skipCompleted: false) }
    /// Ends the current epoch after the current event, firing `.terminateSingleEpoch` then `.epochCompleted`.
    public func terminateEpoch() { terminateEpoch(skipEpochCompleted: false) }
    /// Registers one custom event.
    public func registerEvents(_ events: Event..., counter: EventCounter = .fires) {
        registerEvents(events, counter: counter)
    }
}
