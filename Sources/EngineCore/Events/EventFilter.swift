/// When a handler attached to an event actually runs, judged on the event's counter value.
///
/// Matches Ignite: `every` fires at multiples; `once` at given values; `after`/`before` bound an open
/// interval (combined with `every`, it fires where `(value - after - 1) % every == 0`); a predicate
/// receives the engine and the counter value.
public enum EventFilter: Sendable {
    case every(Int)
    case once(Set<Int>)
    case window(after: Int?, before: Int?, every: Int)
    case predicate(@Sendable (any AnyEngine, Int) -> Bool)
    /// A filter made from bad arguments; attaching a handler with it throws `EngineError.invalidFilter`.
    case invalid(String)

    /// Whether a handler with this filter runs when the event's counter is `value`.
    @inlinable
    public func admits(_ value: Int, engine: any AnyEngine) -> Bool {
        switch self {
        case .every(let n): return value % n == 0
        case .once(let values): return values.contains(value)
        case .window(let after, let before, let every):
            let lower = after ?? 0
            if value <= lower { return false }
            if let before, value >= before { return false }
            return (value - lower - 1) % every == 0
        case .predicate(let test): return test(engine, value)
        case .invalid: return false
        }
    }
}

/// Several events combined with `|`; a handler attached to a group is registered once per member, so it
/// runs once per occurrence of any member.
public struct EventGroup: Sendable {
    /// The (possibly filtered) events of the group, in order.
    public var members: [Event]
}

extension Event {
    /// This event filtered: every `n`-th occurrence of its counter.
    /// This event filtered: every `n`-th occurrence of its counter (`n` at least 1, or attaching throws).
    public func callAsFunction(every n: Int) -> Event {
        guard n >= 1 else { return Event(self, filter: .invalid("every must be at least 1, got \(n)")) }
        return Event(self, filter: .every(n))
    }

    /// This event filtered to run once, at counter value `n` (not negative, or attaching throws).
    public func callAsFunction(once n: Int) -> Event {
        callAsFunction(once: [n])
    }

    /// This event filtered to run at each of the given counter values (a non-empty list of values that are
    /// not negative, or attaching throws).
    public func callAsFunction(once values: [Int]) -> Event {
        guard !values.isEmpty else { return Event(self, filter: .invalid("once needs at least one value")) }
        if let negative = values.first(where: { $0 < 0 }) {
            return Event(self, filter: .invalid("once values must not be negative, got \(negative)"))
        }
        return Event(self, filter: .once(Set(values)))
    }

    /// This event filtered to the open interval `after < value < before`, optionally every `every`-th.
    /// Called with no argument at all it is an invalid filter (refused when attached), as Ignite refuses
    /// `Events.ITERATION_COMPLETED()`: use the event itself.
    public func callAsFunction(every: Int? = nil, after: Int? = nil, before: Int? = nil) -> Event {
        guard every != nil || after != nil || before != nil else {
            return Event(self, filter: .invalid("a filtered event needs every, once, after, before or a filter"))
        }
        let every = every ?? 1
        if every < 1 { return Event(self, filter: .invalid("every must be at least 1, got \(every)")) }
        if let after, after < 0 { return Event(self, filter: .invalid("after must not be negative, got \(after)")) }
        if let before, before < 0 { return Event(self, filter: .invalid("before must not be negative, got \(before)")) }
        if after == nil && before == nil { return Event(self, filter: .every(every)) }
        return Event(self, filter: .window(after: after, before: before, every: every))
    }

    /// This event filtered by a custom predicate of the engine and the event's counter value.
    public func callAsFunction(filter: @escaping @Sendable (any AnyEngine, Int) -> Bool) -> Event {
        Event(self, filter: .predicate(filter))
    }
}

/// Combines events so that one handler runs on each of them.
public func | (lhs: Event, rhs: Event) -> EventGroup { EventGroup(members: [lhs, rhs]) }
/// Adds an event to a group.
public func | (lhs: EventGroup, rhs: Event) -> EventGroup { EventGroup(members: lhs.members + [rhs]) }
