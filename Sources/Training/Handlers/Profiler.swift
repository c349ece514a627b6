import EngineCore
import Foundation

/// Where a run's time goes: per event (from each event to the next, so handlers and the loop's work after
/// the event count for it) and per named handler wrapped with `measured`.
public final class Profiler {
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
