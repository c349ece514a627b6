import EngineCore
import Foundation
import NeuralNet

/// Something with a learning rate a scheduler can set.
public protocol LearningRateControlled: AnyObject {
    /// The current learning rate.
    var learningRate: Double { get set }
}

// The built-in optimizers are scheduled directly: `LearningRateScheduler(target: sgd, schedule: ...)`.
extension SGD: LearningRateControlled {}
extension Adam: LearningRateControlled {}

/// Any optimizer (a user's own included) as a scheduler's target.
public final class OptimizerLearningRate: LearningRateControlled {
    /// The optimizer whose rate is set.
    public let optimizer: any Optimizer
    /// The learning rate of `optimizer`, for schedulers.
    public init(_ optimizer: any Optimizer) { self.optimizer = optimizer }
    public var learningRate: Double {
        get { optimizer.learningRate }
        set { optimizer.learningRate = newValue }
    }
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

    /// A linear warm-up from `start` to `end` (the schedule's first value by default) in front of `schedule`, as
    /// Ignite's `create_lr_scheduler_with_warmup`: the first event gets `start`; when `end` is the schedule's own
    /// first value the warm-up stops one step short of it and the schedule begins there (no value is repeated),
    /// otherwise the warm-up's last event gets `end` and the schedule follows from its start.
    /// - Throws: `ArgumentError` for fewer than 2 warm-up events.
    public static func warmup(
        events: Int, start: Double = 0, end: Double? = nil,
        then schedule: @escaping @Sendable (Int) -> Double
    ) throws -> @Sendable (Int) -> Double {
        try ArgumentError.require(events > 1, "LearningRateScheduler.warmup(events:)", events, "at least 2 events")
        let first = schedule(0)
        let target = end ?? first
        var milestones: [(event: Int, value: Double)] = [(0, start), (events - 1, target)]
        if first == target {
            if events > 2 {
                milestones[1] = (events - 2, target - (target - start) / Double(events - 1))
            } else {
                milestones.removeLast()
            }
        }
        let ramp = try piecewiseLinear(milestones)
        return try concatenate([ramp, schedule], durations: [milestones.last!.event + 1])
    }

    /// Linear interpolation between (event, value) milestones, constant outside them (PiecewiseLinear).
    /// - Throws: `ArgumentError` for no milestones, a negative one, or one smaller than the one before it.
    public static func piecewiseLinear(_ milestones: [(event: Int, value: Double)]) throws -> @Sendable (Int) -> Double {
        try ArgumentError.require(!milestones.isEmpty, "LearningRateScheduler.piecewiseLinear(_:)", "[]", "at least one milestone")
        for (index, milestone) in milestones.enumerated() {
            try ArgumentError.require(
                milestone.event >= 0, "LearningRateScheduler.piecewiseLinear(_:)", milestone.event,
                "non-negative milestones")
            if index > 0 {
                try ArgumentError.require(
                    milestone.event >= milestones[index - 1].event, "LearningRateScheduler.piecewiseLinear(_:)",
                    milestone.event, "increasing milestones (it is smaller than \(milestones[index - 1].event))")
            }
        }
        let points = milestones.map { [Double($0.event), $0.value] }
        return { n in
            let x = Double(n)
            guard let first = points.first, let last = points.last else { return 0 }
            if x <= first[0] { return first[1] }
            if x >= last[0] { return last[1] }
            let upper = points.firstIndex { $0[0] >= x }!
            let (a, b) = (points[upper - 1], points[upper])
            return b[0] == a[0] ? b[1] : a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])
        }
    }

    /// The first schedule for `durations[0]` events, then the second (restarted at 0), ... (ConcatScheduler).
    /// - Throws: `ArgumentError` unless there is one duration less than schedules, each positive.
    public static func concatenate(_ schedules: [@Sendable (Int) -> Double], durations: [Int]) throws -> @Sendable (Int) -> Double {
        try ArgumentError.require(
            schedules.count == durations.count + 1 && schedules.count >= 2,
            "LearningRateScheduler.concatenate(_:durations:)", "\(schedules.count) schedules and \(durations.count) durations",
            "at least two schedules and one duration less")
        try ArgumentError.require(
            durations.allSatisfy { $0 > 0 }, "LearningRateScheduler.concatenate(_:durations:)", durations,
            "positive durations")
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
