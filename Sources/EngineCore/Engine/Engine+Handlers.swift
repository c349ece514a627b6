/// Attaching, removing and firing handlers.
extension Engine {
    /// Attaches `handler` to an event, a filtered event such as `.iterationCompleted(every: 100)`, or a group
    /// `a | b`; handlers run in the order they were attached. Extra arguments travel in the closure.
    /// - Returns: a handle whose `remove()` detaches the handler from every event it was attached to.
    /// - Throws: `EngineError.unregisteredEvent` for a custom event not registered with this engine.
    @discardableResult
    public func addEventHandler(_ events: EventGroup, _ handler: @escaping Handler) throws
        -> RemovableHandle
    {
        let members = events.members
        for member in members {
            guard slot(of: member) != nil else { throw EngineError.unregisteredEvent(member.name) }
            if case .invalid(let reason)? = member.filter { throw EngineError.invalidFilter(reason) }
        }
        var attached: [(slot: Int, token: Int)] = []
        for member in members {
            let token = nextToken
            let slot = slot(of: member)!
            nextToken += 1
            handlers[slot].append(HandlerEntry(token: token, filter: member.filter, body: handler))
            attached.append((slot, token))
        }
        refreshAttachedStandardEvents()
        return RemovableHandle(owner: ObjectIdentifier(self)) { [weak self] in
            guard let self else { return }
            for (slot, token) in attached { handlers[slot].removeAll { $0.token == token } }
            refreshAttachedStandardEvents()
        }
    }

    /// Attaches `handler` to one (possibly filtered) event; see `addEventHandler(_:_:)` for groups.
    @discardableResult
    public func addEventHandler(_ event: Event, _ handler: @escaping Handler) throws -> RemovableHandle {
        try addEventHandler(EventGroup(members: [event]), handler)
    }

    /// The same as `addEventHandler(_:_:)`, read as "on this event, do this".
    @discardableResult
    public func on(_ event: Event, _ handler: @escaping Handler) throws -> RemovableHandle {
        try addEventHandler(EventGroup(members: [event]), handler)
    }

    /// The same as `addEventHandler(_:_:)`, read as "on this event, do this".
    @discardableResult
    public func on(_ events: EventGroup, _ handler: @escaping Handler) throws -> RemovableHandle {
        try addEventHandler(events, handler)
    }

    /// Attaches a handler written against `AnyEngine`, for reusable handlers.
    @discardableResult
    public func addEventHandler(
        _ event: Event, erased handler: @escaping (any AnyEngine) throws -> Void
    ) throws -> RemovableHandle {
        let typed: Handler = { engine in try handler(engine) }
        return try addEventHandler(event, typed)
    }

    /// Attaches `handler` for the duration of `body` only: the Swift form of Ignite's
    /// `with engine.add_event_handler(...):`.
    public func withEventHandler<Result>(
        _ event: Event, _ handler: @escaping Handler, do body: () throws -> Result
    ) throws -> Result {
        let handle = try addEventHandler(event, handler)
        defer { handle.remove() }
        return try body()
    }

    /// Detaches the handler behind `handle`.
    /// - Throws: `EngineError.foreignHandle` for a handle of another engine, `EngineError.handlerNotAttached`
    ///   when it was already removed.
    public func removeEventHandler(_ handle: RemovableHandle) throws {
        guard handle.owner == ObjectIdentifier(self) else { throw EngineError.foreignHandle }
        guard handle.isAttached else { throw EngineError.handlerNotAttached("(removed handle)") }
        handle.remove()
    }

    /// Whether any handler is attached to `event`.
    public func hasEventHandler(for event: Event) -> Bool {
        slot(of: event).map { !handlers[$0].isEmpty } ?? false
    }

    /// Number of handlers attached to `event`.
    public func handlerCount(for event: Event) -> Int {
        slot(of: event).map { handlers[$0].count } ?? 0
    }

    /// The index of `event` in this engine's tables: standard events by identity, custom events in the order
    /// this engine registered them (another engine's events never grow this one's tables).
    func slot(of event: Event) -> Int? {
        event.id < Event.standardCount ? event.id : customSlots[event.id]
    }

    /// Registers custom events; filters on them compare against `counter`. Registering again updates
    /// the counter. The events and their counters belong to this engine only.
    public func registerEvents(_ events: [Event], counter: EventCounter) {
        for event in events {
            precondition(event.id >= Event.standardCount, "\(event) is a standard event")
            if let slot = customSlots[event.id] {
                setCounter(counter, slot: slot)
                continue
            }
            let slot = handlers.count
            customSlots[event.id] = slot
            handlers.append([])
            counters.append(counter)
            counterKinds.append(.fires)
            setCounter(counter, slot: slot)
            fireCounts.append(0)
            customEvents[slot] = event
        }
    }

    /// Whether `event` can be attached to and fired on this engine.
    public func isRegistered(_ event: Event) -> Bool { slot(of: event) != nil }

    /// Fires a registered custom event now, from a handler or the process function.
    /// - Throws: `EngineError.unregisteredEvent`, or whatever a handler throws.
    public func fireEvent(_ event: Event) throws {
        guard let slot = slot(of: event) else { throw EngineError.unregisteredEvent(event.name) }
        try fire(slot)
    }

    /// Runs the handlers of the event in table `id`; with none attached this is an increment and a count test.
    @inlinable @inline(__always)
    func fire(_ id: Int) throws {
        lastEventID = id
        fireCounts[id] &+= 1
        let entries = firing.tables[id]
        if entries.isEmpty { return }
        let value: Int
        switch counterKinds[id] {
        case .iteration: value = state.iteration
        case .epoch: value = state.epoch
        case .fires: value = fireCounts[id]
        case .stateValue: value = state.userCount(counterKeys[id] ?? "")
        }
        try run(entries, counter: value)
    }

    /// Fires one of the standard events of an iteration (whose filters count iterations, never fires): with none
    /// attached this is one bit test.
    @inlinable @inline(__always)
    func fireIterationEvent(_ id: Int) throws {
        lastEventID = id
        if attachedStandardEvents & (1 &<< UInt64(id)) == 0 { return }
        try run(firing.tables[id], counter: state.iteration)
    }

    /// Runs `entries` (the table of an event's slot when it fired, whatever its handlers attach or remove), their
    /// filters judged on the event's counter `value`.
    @inlinable @inline(__always)
    func run(_ entries: UnsafeMutableBufferPointer<FiringRow<HandlerEntry>>, counter value: Int) throws {
        let tables = firing
        tables.depth &+= 1
        defer {
            tables.depth &-= 1
            if tables.depth == 0 && tables.hasRetired { tables.releaseRetired() }
        }
        for index in entries.indices {
            let row = entries[index]
            let admitted: Bool
            if row.every == 1 {
                admitted = true
            } else if row.every > 1 {
                admitted = row.entry._withUnsafeGuaranteedRef { $0.isMultiple(value) }
            } else {
                admitted = row.entry._withUnsafeGuaranteedRef { $0.admits(self, value) }
            }
            if admitted { try row.entry._withUnsafeGuaranteedRef { try $0.body(self) } }
        }
    }

    /// Sets the counter of the event in `slot`.
    func setCounter(_ counter: EventCounter, slot: Int) {
        counters[slot] = counter
        counterKinds[slot] = CounterKind(counter)
        if case .stateValue(let key) = counter { counterKeys[slot] = key } else { counterKeys[slot] = nil }
    }

    /// Recomputes which standard events have handlers.
    func refreshAttachedStandardEvents() {
        var mask: UInt64 = 0
        for slot in 0..<Event.standardCount where !handlers[slot].isEmpty { mask |= 1 << UInt64(slot) }
        attachedStandardEvents = mask
    }
}

extension Engine.CounterKind {
    @usableFromInline init(_ counter: EventCounter) {
        switch counter {
        case .iteration: self = .iteration
        case .epoch: self = .epoch
        case .fires: self = .fires
        case .stateValue: self = .stateValue
        }
    }
}
