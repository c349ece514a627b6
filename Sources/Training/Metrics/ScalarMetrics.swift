/// Predictions and targets of a regression, for metrics: views, no copies.
public struct RegressionBatch {
    public let predictions: UnsafeBufferPointer<Float>
    public let targets: UnsafeBufferPointer<Float>

    /// A batch viewing existing buffers of equal length.
    public init(predictions: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>) {
        precondition(predictions.count == targets.count, "predictions and targets differ in length")
        self.predictions = predictions
        self.targets = targets
    }
}

/// Mean squared error over every value.
public final class MeanSquaredErrorMetric: Metric {
    public var sums: [Double] = [0, 0]
    public var reducer: SumReducer?
    /// A mean squared error.
    public init(reducer: SumReducer? = nil) { self.reducer = reducer }

    public func update(_ batch: RegressionBatch) {
        for index in batch.predictions.indices {
            let difference = Double(batch.predictions[index]) - Double(batch.targets[index])
            sums[0] += difference * difference
        }
        sums[1] += Double(batch.predictions.count)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "MeanSquaredError")
    }
}

/// Mean absolute error over every value.
public final class MeanAbsoluteErrorMetric: Metric {
    public var sums: [Double] = [0, 0]
    public var reducer: SumReducer?
    /// A mean absolute error.
    public init(reducer: SumReducer? = nil) { self.reducer = reducer }

    public func update(_ batch: RegressionBatch) {
        for index in batch.predictions.indices { sums[0] += abs(Double(batch.predictions[index]) - Double(batch.targets[index])) }
        sums[1] += Double(batch.predictions.count)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "MeanAbsoluteError")
    }
}

/// The mean of a scalar output over updates.
public final class Average: Metric {
    public var sums: [Double] = [0, 0]
    public var reducer: SumReducer?
    /// An average.
    public init(reducer: SumReducer? = nil) { self.reducer = reducer }

    public func update(_ value: Double) {
        sums[0] += value
        sums[1] += 1
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "Average")
    }
}

/// An exponential moving average `v ← α·v + (1 − α)·x` of a per-batch value (the loss, or a metric's batch
/// value), the first value being `x` itself, as Ignite's RunningAverage.
///
/// Unlike Ignite, which all-reduces at every update, each rank keeps its own average and the reduction
/// happens only when the value is read with `compute()` (it averages the ranks' averages). The moving
/// average is linear, so this equals the average of the ranks' mean batch values whenever every rank
/// updates equally often (the padded training sampler guarantees it), at no per-iteration collective.
public final class RunningAverage: Metric {
    /// [local average, 1 once a value was seen].
    public var sums: [Double] = [0, 0]
    public var reducer: SumReducer?
    /// The decay.
    public let alpha: Double

    /// A running average with decay `alpha`.
    public init(alpha: Double = 0.98, reducer: SumReducer? = nil) {
        precondition(alpha > 0 && alpha < 1, "alpha must be in (0, 1)")
        self.alpha = alpha
        self.reducer = reducer
    }

    public func update(_ value: Double) {
        sums[0] = sums[1] == 0 ? value : alpha * sums[0] + (1 - alpha) * value
        sums[1] = 1
    }

    /// This rank's average, without communicating.
    public var localValue: Double? { sums[1] > 0 ? sums[0] : nil }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "RunningAverage")
    }
}
