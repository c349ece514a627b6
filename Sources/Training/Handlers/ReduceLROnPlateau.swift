import EngineCore

/// Lowers the learning rate by `factor` when a metric has stopped improving for `patience` steps, with
/// PyTorch's semantics (relative threshold, cooldown, minimum rate).
public final class ReduceLROnPlateau: Stateful {
    /// Whether lower (min) or higher (max) metric values are better.
    public enum Mode: Sendable { case min, max }
    private let target: any LearningRateControlled
    public let mode: Mode, factor: Double, patience: Int, threshold: Double, cooldown: Int, minimumRate: Double
    /// The best metric so far.
    public private(set) var best: Double?
    /// Steps without improvement, and steps of cooldown left.
    public private(set) var badSteps = 0, cooldownLeft = 0

    /// A plateau scheduler of `target`.
    /// - Throws: `ArgumentError` for a factor outside (0, 1), or a negative patience, threshold, cooldown or minimum rate.
    public init(
        target: any LearningRateControlled, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10,
        threshold: Double = 1e-4, cooldown: Int = 0, minimumRate: Double = 0
    ) throws {
        try ArgumentError.require(factor > 0 && factor < 1, "ReduceLROnPlateau(factor:)", factor, "in (0, 1)")
        try ArgumentError.require(patience >= 0, "ReduceLROnPlateau(patience:)", patience, "0 or more")
        try ArgumentError.require(threshold >= 0 && threshold.isFinite, "ReduceLROnPlateau(threshold:)", threshold, "a finite number, not negative")
        try ArgumentError.require(cooldown >= 0, "ReduceLROnPlateau(cooldown:)", cooldown, "0 or more")
        try ArgumentError.require(
            minimumRate >= 0 && minimumRate.isFinite, "ReduceLROnPlateau(minimumRate:)", minimumRate, "a finite number, not negative")
        self.target = target
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.cooldown = cooldown
        self.minimumRate = minimumRate
    }

    private func improves(_ value: Double, on best: Double) -> Bool {
        mode == .min ? value < best * (1 - threshold) : value > best * (1 + threshold)
    }

    /// Takes one metric value and adjusts the rate.
    public func step(_ value: Double) {
        if let best, !improves(value, on: best) {
            badSteps += 1
        } else {
            best = value
            badSteps = 0
        }
        if cooldownLeft > 0 {
            cooldownLeft -= 1
            badSteps = 0
        }
        if badSteps > patience {
            target.learningRate = Swift.max(target.learningRate * factor, minimumRate)
            cooldownLeft = cooldown
            badSteps = 0
        }
    }

    /// Steps with `metric(engine)` at each `event` (e.g. an evaluator's completed event).
    public func attach(to engine: any AnyEngine, event: Event = .epochCompleted, metric: @escaping (any AnyEngine) -> Double) throws {
        try engine.addEventHandler(event, erased: { [self] engine in step(metric(engine)) })
    }

    public func stateDict() -> StateDict {
        [
            "best": best.map(StateValue.double) ?? .null, "bad_steps": .int(badSteps), "cooldown_left": .int(cooldownLeft),
            "learning_rate": .double(target.learningRate)
        ]
    }

    public func loadStateDict(_ state: StateDict) throws {
        best = state["best"] == nil || state["best"] == .null ? nil : try state.double("best")
        badSteps = try state.int("bad_steps")
        cooldownLeft = try state.int("cooldown_left")
        target.learningRate = try state.double("learning_rate")
    }
}
