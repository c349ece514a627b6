/// A handler object an engine can take as it is, as Ignite's `engine.add_event_handler(event, checkpoint)` takes any
/// callable: `try trainer.addEventHandler(.completed, checkpoint)`.
public protocol EventHandler: AnyObject {
    /// Prepares `engine` once, when attached (registers the events the handler fires); does nothing by default.
    func prepare(_ engine: any AnyEngine) throws
    /// Runs when the event fires.
    func handle(_ engine: any AnyEngine) throws
}

extension EventHandler {
    /// Does nothing by default: a handler that needs the engine before its first event overrides it.
    public func prepare(_ engine: any AnyEngine) throws {}
}

extension Engine {
    /// Attaches a handler object (a `Checkpoint`, ...) to an event, a filtered event or a group.
    /// - Returns: a handle whose `remove()` detaches it.
    @discardableResult
    public func addEventHandler(_ events: EventGroup, _ handler: some EventHandler) throws -> RemovableHandle {
        try handler.prepare(self)
        return try addEventHandler(events) { engine in try handler.handle(engine) }
    }

    /// Attaches a handler object to one (possibly filtered) event.
    @discardableResult
    public func addEventHandler(_ event: Event, _ handler: some EventHandler) throws -> RemovableHandle {
        try addEventHandler(EventGroup(members: [event]), handler)
    }

    /// Wraps every handler attached now (the profiler's per-handler timing): `wrap` receives each handler's event, its
    /// position among the event's handlers and the handler, and returns the handler to run instead. Handlers attached
    /// later are not wrapped, so instrument last.
    public func instrumentHandlers(_ wrap: (Event, Int, @escaping Handler) -> Handler) {
        for slot in handlers.indices {
            let event = slot < Event.standardCount ? Event.standardEvents[slot] : customEvents[slot]
            guard let event else { continue }
            handlers[slot] = handlers[slot].enumerated().map { position, entry in
                HandlerEntry(token: entry.token, filter: entry.filter, body: wrap(event, position, entry.body))
            }
        }
    }
}
