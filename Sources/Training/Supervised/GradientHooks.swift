import EngineCore

extension Event {
    /// Fired between the backward pass and the optimizer step, once the gradients of a (possibly accumulated)
    /// step are complete: where data parallelism averages them. The supervised trainer fires it; a process
    /// function of your own fires it with `engine.fireEvent(.gradientsReady)`.
    public static let gradientsReady = Event("GRADIENTS_READY")
}

extension StateKey where Value == GradientHooks {
    /// Where a process function publishes its `GradientHooks` in `engine.state`.
    public static var gradientHooks: StateKey<GradientHooks> { StateKey("gradient_hooks") }
}

/// What a process function offers to data parallelism, published in `engine.state[.gradientHooks]`.
///
/// A process function that multiplies its loss gradient by `lossGradientScale` lets `DataParallel` average
/// gradients for free (it sets 1/world); one that calls `backwardProgress` during backward lets it start
/// communication early. Without hooks, `DataParallel` scales the summed gradients itself and starts
/// communication at `.gradientsReady`.
public final class GradientHooks {
    /// Factor the process function applies to its loss gradient.
    public var lossGradientScale: Float = 1
    /// Called during backward with the arena offset from which every gradient is final.
    public var backwardProgress: ((Int) -> Void)?
    /// This process's rank, for random streams that must differ between ranks (dropout).
    public var rank = 0
    /// Set by a virtual-shard trainer: its rank's tree of shard gradients, which data parallelism completes across
    /// ranks in the same tree order (and whose world size it checks) instead of averaging.
    public var shardSum: ShardGradientSum?

    /// Hooks with no effect until data parallelism sets them.
    public init() {}
}
