import EngineCore
import Foundation
import NeuralNet

/// Sets any optimizer value (learning rate, momentum, weight decay, Adam's betas) from a schedule at each event, then
/// advances: Ignite's `ParamScheduler` with `param_name`. The value for the n-th event (0-based) is `schedule(n)`;
/// its state is the event index, so a resumed run continues the exact sequence.
public final class ParameterScheduler: Stateful {
    /// The optimizer whose value is set.
    public let optimizer: any HyperparameterControlled
    /// Which value.
    public let parameter: OptimizerHyperparameter
    /// The value for event index n.
    public let schedule: @Sendable (Int) -> Double
    /// Events seen so far.
    public private(set) var eventIndex = 0

    /// A scheduler of `optimizer`'s `parameter` following `schedule`.
    /// - Throws: `ArgumentError` when the optimizer has no such value (SGD has no `beta2`).
    public init(
        optimizer: any HyperparameterControlled, parameter: OptimizerHyperparameter,
        schedule: @escaping @Sendable (Int) -> Double
    ) throws {
        try ArgumentError.require(
            optimizer.hyperparameter(parameter) != nil, "ParameterScheduler(parameter:)", parameter.rawValue,
            "a value \(type(of: optimizer)) has (\(OptimizerHyperparameter.allCases.filter { optimizer.hyperparameter($0) != nil }.map(\.rawValue).joined(separator: ", ")))"
        )
        self.optimizer = optimizer
        self.parameter = parameter
        self.schedule = schedule
    }

    /// Sets the value for the current event and advances.
    public func step() {
        optimizer.setHyperparameter(parameter, to: schedule(eventIndex))
        eventIndex += 1
    }

    /// Attaches the scheduler to `event` of `engine` (usually `.iterationStarted` or `.epochStarted`).
    public func attach<Batch, Output>(to engine: Engine<Batch, Output>, event: Event = .iterationStarted) throws {
        try engine.on(event) { [self] _ in step() }
    }

    /// The first `count` values of the schedule, without training (Ignite's `simulate_values`).
    public func simulateValues(count: Int) -> [Double] { (0..<Swift.max(0, count)).map(schedule) }

    public func stateDict() -> StateDict { ["event_index": .int(eventIndex), "param_name": .string(parameter.rawValue)] }

    public func loadStateDict(_ state: StateDict) throws {
        let index = try state.int("event_index")
        guard index >= 0 else { throw StateDictError.invalidValue(key: "event_index", reason: "negative") }
        if case .string(let name)? = state["param_name"], name != parameter.rawValue {
            throw StateDictError.invalidValue(key: "param_name", reason: "saved for \(name), loaded into a scheduler of \(parameter.rawValue)")
        }
        eventIndex = index
    }
}

/// The shape of one cycle of a cyclical schedule.
public enum CycleShape: Sendable {
    /// Start → end → start, linearly (Ignite's `LinearCyclicalScheduler`).
    case linear
    /// Start → end linearly, then back over the warm-up (`LinearCyclicalScheduler(monotonic=True)`; needs a warm-up).
    case linearMonotonic
    /// Half a cosine from start to end (Ignite's `CosineAnnealingScheduler`; with a cycle multiplier, warm restarts).
    case cosine
}

extension LearningRateScheduler {
    /// A cyclical schedule as Ignite's cyclical schedulers compute it: cycles of `cycleSize` events (each
    /// `cycleMultiplier` times longer than the one before: SGDR's warm restarts), the start and end values multiplied by
    /// their multipliers at every new cycle, and an optional linear warm-up of `warmup` events from the end value back
    /// to the next start after each cycle. Any value can follow it (a `ParameterScheduler`'s or a learning rate).
    /// - Throws: `ArgumentError` for a cycle under 2 events, a multiplier below 1, a negative warm-up, a warm-up on the
    ///   triangle, or a monotonic shape without one (Ignite's rules).
    public static func cyclical(
        _ shape: CycleShape, start: Double, end: Double, cycleSize: Int, cycleMultiplier: Double = 1,
        startMultiplier: Double = 1, endMultiplier: Double = 1, warmup: Int = 0
    ) throws -> @Sendable (Int) -> Double {
        try ArgumentError.require(cycleSize >= 2, "cyclical(cycleSize:)", cycleSize, "at least 2")
        try ArgumentError.require(cycleMultiplier >= 1 && cycleMultiplier.isFinite, "cyclical(cycleMultiplier:)", cycleMultiplier, "1 or more")
        try ArgumentError.require(warmup >= 0, "cyclical(warmup:)", warmup, "0 or more")
        if shape == .linear {
            try ArgumentError.require(
                warmup == 0, "cyclical(.linear, warmup:)", warmup,
                "0 (a triangle returns to its start by itself; "
                    + "use .linearMonotonic with a warm-up)")
        }
        if shape == .linearMonotonic {
            try ArgumentError.require(warmup > 0, "cyclical(.linearMonotonic, warmup:)", warmup, "at least 1 (the way back to the start)")
        }
        return { n in
            var index = Swift.max(0, n)
            var size = cycleSize
            var back = warmup
            var first = start
            var last = end
            if cycleMultiplier == 1 {
                let cycles = index / (size + back)
                index -= cycles * (size + back)
                first *= pow(startMultiplier, Double(cycles))
                last *= pow(endMultiplier, Double(cycles))
            } else {
                while index >= size + back {
                    index -= size + back
                    size = Int(Double(size) * cycleMultiplier)
                    back = Int(Double(back) * cycleMultiplier)
                    first *= startMultiplier
                    last *= endMultiplier
                }
            }
            // From the cycle's last point on, the start is already the next cycle's (Ignite multiplies it there).
            if index >= size { first *= startMultiplier }
            if index > size { return last + (first - last) * Double(index - size) / Double(back) }
            let progress = Double(index) / Double(size)
            switch shape {
            case .linear: return last + (first - last) * abs(progress - 0.5) * 2
            case .linearMonotonic: return first + (last - first) * progress
            case .cosine: return first + (last - first) / 2 * (1 - cos(Double.pi * progress))
            }
        }
    }
}
