import EngineCore
import Foundation

/// Something with a learning rate a scheduler can set.
public protocol LearningRateControlled: AnyObject {
    /// The current learning rate.
    var learningRate: Double { get set }
}

/// Sets a learning rate from a schedule at each event, then advances ("set then advance", as Ignite's
/// parameter schedulers): the value for the n-th event (0-based) is `schedule(n)`.
///
/// Its state is the event index, so a resumed run continues the exact sequence.
public final class LearningRateScheduler: Stateful {
    /// What the rate is set on.
    public let target: any LearningRateControlled
    /// The rate for event index n.
    public let schedule: @Sendable (Int) -> Double
    /// Events seen so far.
    public private(set) var eventIndex = 0

    /// A scheduler of `target` following `schedule`.
    public init(target: any LearningRateControlled, schedule: @escaping @Sendable (Int) -> Double) {
        self.target = target
        self.schedule = schedule
    }

    /// Sets the rate for the current event and advances.
    public func step() {
        target.learningRate = schedule(eventIndex)
        eventIndex += 1
    }

    /// Attaches the scheduler to `event` of `engine` (usually `.iterationStarted` or `.epochStarted`).
    public func attach<Batch, Output>(to engine: Engine<Batch, Output>, event: Event = .iterationStarted) throws {
        try engine.on(event) { [self] _ in step() }
    }

    /// The first `count` values of a schedule.
    public static func simulateValues(count: Int, schedule: (Int) -> Double) -> [Double] { (0..<count).map(schedule) }

    public func stateDict() -> StateDict { ["event_index": .int(eventIndex)] }

    public func loadStateDict(_ state: StateDict) throws {
        let index = try state.int("event_index")
        guard index >= 0 else { throw StateDictError.invalidValue(key: "event_index", reason: "negative") }
        eventIndex = index
    }

    // MARK: - Schedules

    /// `base · gamma^⌊n / stepSize⌋` (StepLR).
    public static func step(base: Double, stepSize: Int, gamma: Double) -> @Sendable (Int) -> Double {
        { n in base * pow(gamma, Double(n / stepSize)) }
    }

    /// `base · gamma^(milestones passed)` (MultiStepLR).
    public static func multiStep(base: Double, milestones: [Int], gamma: Double) -> @Sendable (Int) -> Double {
        { n in base * pow(gamma, Double(milestones.filter { $0 <= n }.count)) }
    }

    /// `base · gamma^n` (ExponentialLR).
    public static func exponential(base: Double, gamma: Double) -> @Sendable (Int) -> Double {
        { n in base * pow(gamma, Double(n)) }
    }

    /// Cosine annealing from `base` to `minimum` over `cycle` events (CosineAnnealingLR).
    public static func cosine(base: Double, minimum: Double = 0, cycle: Int) -> @Sendable (Int) -> Double {
        { n in minimum + (base - minimum) * (1 + cos(Double.pi * Double(Swift.min(n, cycle)) / Double(cycle))) / 2 }
    }

    /// Linear warm-up from `start` to the schedule's first value over `events`, then the schedule (shifted).
    public static func warmup(events: Int, start: Double = 0, then schedule: @escaping @Sendable (Int) -> Double)
        -> @Sendable (Int) -> Double
    {
        { n in
            guard n < events else { return schedule(n - events) }
            let target = schedule(0)
            return start + (target - start) * Double(n + 1) / Double(events)
        }
    }

    /// Linear interpolation between (event, value) milestones, constant outside them (PiecewiseLinear).
    public static func piecewiseLinear(_ milestones: [(event: Int, value: Double)]) -> @Sendable (Int) -> Double {
        let points = milestones.sorted { $0.event < $1.event }.map { [Double($0.event), $0.value] }
        return { n in
            let x = Double(n)
            guard let first = points.first, let last = points.last else { return 0 }
            if x <= first[0] { return first[1] }
            if x >= last[0] { return last[1] }
            let upper = points.firstIndex { $0[0] >= x }!
            let (a, b) = (points[upper - 1], points[upper])
            return a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])
        }
    }

    /// The first schedule for `durations[0]` events, then the second (restarted at 0), ... (ConcatScheduler).
    public static func concatenate(_ schedules: [@Sendable (Int) -> Double], durations: [Int]) -> @Sendable (Int) -> Double {
        precondition(schedules.count == durations.count + 1, "give one duration less than schedules")
        return { n in
            var remaining = n
            for (index, duration) in durations.enumerated() {
                if remaining < duration { return schedules[index](remaining) }
                remaining -= duration
            }
            return schedules.last!(remaining)
        }
    }
}
