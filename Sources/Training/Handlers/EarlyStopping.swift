import EngineCore

/// Stops training when a score has not improved for `patience` calls (Ignite's EarlyStopping).
///
/// The first call records the best score. A score counts as an improvement when it beats the best by more than
/// `minDelta` (higher for `.max`, lower for `.min`; an absolute change, or relative to the best with `.relative`);
/// otherwise the counter grows (and, unless `cumulativeDelta`, a slightly better score still becomes the best) and at
/// `patience` the trainer is terminated. Attach it to an evaluator's completed event or the trainer's epoch completed.
public final class EarlyStopping: Stateful {
    /// Whether a higher or a lower score is better (Ignite's `mode`).
    public enum Mode: String, Sendable { case max, min }
    /// Whether `minDelta` is an absolute change or a fraction of the best score (Ignite's `threshold_mode`).
    public enum ThresholdMode: String, Sendable { case absolute = "abs", relative = "rel" }

    /// Calls without improvement before stopping.
    public let patience: Int
    /// The minimum change that counts as an improvement (Ignite's `threshold`).
    public let minDelta: Double
    /// Whether higher or lower scores are better.
    public let mode: Mode
    /// Whether `minDelta` is absolute or relative.
    public let thresholdMode: ThresholdMode
    /// Compare against the best score of the last improvement rather than the best seen.
    public let cumulativeDelta: Bool
    private let scoreFunction: (any AnyEngine) -> Double
    private let trainer: any AnyEngine
    /// Calls since the last improvement.
    public private(set) var counter = 0
    /// The best score so far.
    public private(set) var bestScore: Double?

    /// Early stopping of `trainer` on `scoreFunction` (higher is better).
    /// - Throws: `ArgumentError` for a patience below 1 or a negative `minDelta`.
    public init(
        patience: Int, scoreFunction: @escaping (any AnyEngine) -> Double, trainer: any AnyEngine,
        minDelta: Double = 0, cumulativeDelta: Bool = false, mode: Mode = .max,
        thresholdMode: ThresholdMode = .absolute
    ) throws {
        self.mode = mode
        self.thresholdMode = thresholdMode
        try ArgumentError.require(patience >= 1, "EarlyStopping(patience:)", patience, "at least 1")
        try ArgumentError.require(minDelta >= 0 && minDelta.isFinite, "EarlyStopping(minDelta:)", minDelta, "a finite number, not negative")
        self.patience = patience
        self.scoreFunction = scoreFunction
        self.trainer = trainer
        self.minDelta = minDelta
        self.cumulativeDelta = cumulativeDelta
    }

    /// Judges the current score of `engine`.
    public func callAsFunction(_ engine: any AnyEngine) {
        let score = scoreFunction(engine)
        guard let best = bestScore else {
            bestScore = score
            return
        }
        let delta = mode == .min ? -minDelta : minDelta
        let threshold = thresholdMode == .absolute ? best + delta : best * (1 + delta)
        if mode == .max ? score <= threshold : score >= threshold {
            if !cumulativeDelta { bestScore = mode == .max ? Swift.max(score, best) : Swift.min(score, best) }
            counter += 1
            if counter >= patience { trainer.terminate() }
        } else {
            bestScore = score
            counter = 0
        }
    }

    /// Forgets the counter and the best score (Ignite's `reset`), e.g. at the start of a new run.
    public func reset() {
        counter = 0
        bestScore = nil
    }

    /// Attaches to `event` of `engine`.
    public func attach(to engine: any AnyEngine, event: Event) throws {
        try engine.addEventHandler(event, erased: { [self] engine in self(engine) })
    }

    public func stateDict() -> StateDict {
        ["counter": .int(counter), "best_score": bestScore.map(StateValue.double) ?? .null]
    }

    public func loadStateDict(_ state: StateDict) throws {
        counter = try state.int("counter")
        bestScore = state["best_score"] == .null || state["best_score"] == nil ? nil : try state.double("best_score")
    }
}
