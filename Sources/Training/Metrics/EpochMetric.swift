import Cluster
import EngineCore

/// A user's function over every prediction and target of the epoch (or run), gathered from every rank in rank order
/// (Ignite's `EpochMetric`): for a score no running sum can give (a median, a rank statistic, a calibration).
public final class EpochMetric: Metric {
    /// Unused (the values are kept, not summed); present for `Metric`.
    public var sums: [Double] = []
    public var communicator: (any Communicator)?
    private let function: ([Float], [Float]) throws -> Double
    private var predictions: [Float] = []
    private var targets: [Float] = []

    /// A metric computing `function(predictions, targets)` over all of them.
    public init(communicator: (any Communicator)? = nil, _ function: @escaping ([Float], [Float]) throws -> Double) {
        self.communicator = communicator
        self.function = function
    }

    public func reset() {
        predictions = []
        targets = []
    }

    public func update(_ batch: RegressionBatch) throws {
        try batch.validate("EpochMetric")
        predictions += batch.predictions
        targets += batch.targets
    }

    /// The function over every rank's values (gathered in rank order). A collective.
    public func compute() throws -> Double {
        var (allPredictions, allTargets) = (predictions, targets)
        if let communicator, communicator.size > 1 {
            allPredictions = try communicator.allGather(predictions).flatMap { $0 }
            allTargets = try communicator.allGather(targets).flatMap { $0 }
        }
        guard !allPredictions.isEmpty else { throw MetricError("EpochMetric must have at least one example before it can be computed") }
        return try function(allPredictions, allTargets)
    }

    /// The function over this rank's values alone: only for one process, as the values are gathered, not summed.
    /// - Throws: `MetricError` when `communicator` has other ranks (call `compute()`), or nothing was seen.
    public func value(from sums: [Double]) throws -> Double {
        try requireOneProcess(communicator, "EpochMetric")
        guard !predictions.isEmpty else { throw MetricError("EpochMetric must have at least one example before it can be computed") }
        return try function(predictions, targets)
    }

    public func stateDict() -> StateDict {
        ["predictions": .tensor(shape: [predictions.count], values: predictions), "targets": .tensor(shape: [targets.count], values: targets)]
    }

    public func loadStateDict(_ state: StateDict) throws {
        guard case .tensor(_, let savedPredictions)? = state["predictions"], case .tensor(_, let savedTargets)? = state["targets"],
            savedPredictions.count == savedTargets.count
        else {
            throw StateDictError.invalidValue(key: "predictions", reason: "predictions and targets of equal length")
        }
        (predictions, targets) = (savedPredictions, savedTargets)
    }
}
