import EngineCore

/// Stops training when a score has not improved for `patience` calls (Ignite's EarlyStopping).
///
/// The first call records the best score. A score counts as an improvement when it exceeds the best by
/// more than `minDelta`; otherwise the counter grows (and, unless `cumulativeDelta`, a slightly better
/// score still becomes the best) and at `patience` the trainer is terminated. Attach it to an evaluator's
/// completed event or the trainer's epoch completed event.
public final class EarlyStopping: Stateful {
    /// Calls without improvement before stopping.
    public let patience: Int
    /// The minimum increase that counts as an improvement.
    public let minDelta: Double
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
    public init(patience: Int, scoreFunction: @escaping (any AnyEngine) -> Double, trainer: any AnyEngine,
                minDelta: Double = 0, cumulativeDelta: Bool = false) throws {
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
        if score <= best + minDelta {
            if !cumulativeDelta && score > best { bestScore = score }
            counter += 1
            if counter >= patience { trainer.terminate() }
        } else {
            bestScore = score
            counter = 0
        }
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
