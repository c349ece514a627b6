import EngineCore
import Foundation

/// Where a run's time goes: per event (from each event to the next, so handlers and the loop's work after
/// the event count for it) and per named handler wrapped with `measured`. Its totals are saved in checkpoints,
/// so a resumed run's report covers the whole run.
public final class Profiler: Stateful {
    private var totals: [String: (count: Int, seconds: Double)] = [:]
    private var lastEvent: String?
    private var lastTime = 0.0
    private let clock: () -> Double

    /// A profiler; `clock` (seconds) can be replaced in tests.
    public init(clock: (() -> Double)? = nil) {
        self.clock = clock ?? { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    }

    private func add(_ name: String, _ seconds: Double) {
        let current = totals[name] ?? (0, 0)
        totals[name] = (current.count + 1, current.seconds + seconds)
    }

    /// Attaches a timestamp at every standard event of `engine` (attach it first to measure whole events).
    public func attach(to engine: any AnyEngine) throws {
        for event in Event.standardEvents where event != .exceptionRaised {
            try engine.addEventHandler(
                event,
                erased: { [self] _ in
                    let now = clock()
                    if let lastEvent { add("event " + lastEvent, now - lastTime) }
                    lastEvent = event == .completed ? nil : event.name
                    lastTime = now
                })
        }
    }

    /// Times every handler attached to `engine` now, each under "EVENT #position" (Ignite's `HandlersTimeProfiler`):
    /// attach it after the handlers it should time.
    public func attachToHandlers<Batch, Output>(of engine: Engine<Batch, Output>) {
        engine.instrumentHandlers { event, position, handler in measured("\(event.name) #\(position + 1)", handler) }
    }

    /// `handler`, timed under `name`.
    public func measured<Batch, Output>(_ name: String, _ handler: @escaping Engine<Batch, Output>.Handler)
        -> Engine<Batch, Output>.Handler
    {
        { [self] engine in
            let start = clock()
            defer { add("handler " + name, clock() - start) }
            try handler(engine)
        }
    }

    /// The totals so far, by name.
    public func stateDict() -> StateDict {
        var state: StateDict = [:]
        for (name, value) in totals { state[name] = .array([.int(value.count), .double(value.seconds)]) }
        return ["totals": .dictionary(state)]
    }

    /// Restores totals saved by `stateDict()`; the time between the saved event and the next one is not counted.
    /// - Throws: `StateDictError` for a total that is not a count and a number of seconds.
    public func loadStateDict(_ state: StateDict) throws {
        var restored: [String: (count: Int, seconds: Double)] = [:]
        for (name, value) in try state.dictionary("totals") {
            guard case .array(let pair) = value, pair.count == 2, case .int(let count) = pair[0], count >= 0 else {
                throw StateDictError.wrongType(key: "totals.\(name)", expected: "[count, seconds]")
            }
            switch pair[1] {
            case .double(let seconds): restored[name] = (count, seconds)
            case .int(let seconds): restored[name] = (count, Double(seconds))
            default: throw StateDictError.wrongType(key: "totals.\(name)", expected: "[count, seconds]")
            }
        }
        totals = restored
        lastEvent = nil
    }

    /// (count, total seconds) for each measured event or handler.
    public var results: [String: (count: Int, seconds: Double)] { totals }

    /// A table of count, total and mean time per event and per handler, slowest first.
    public func summary() -> String {
        var lines = [
            String(
                format: "%-40@ %10@ %12@ %12@", "name" as NSString, "count" as NSString,
                "total s" as NSString, "mean us" as NSString)
        ]
        for (name, value) in totals.sorted(by: { $0.value.seconds > $1.value.seconds }) {
            lines.append(
                String(
                    format: "%-40@ %10d %12.6f %12.3f", name as NSString, value.count, value.seconds,
                    value.seconds / Double(max(value.count, 1)) * 1e6))
        }
        return lines.joined(separator: "\n")
    }
}
