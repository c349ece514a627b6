import Cluster
import EngineCore
import NeuralNet

/// Predictions and targets of a regression, for metrics.
public struct RegressionBatch: Sendable {
    /// The model's values.
    public let predictions: [Float]
    /// The true values, as many as the predictions.
    public let targets: [Float]
    /// The examples (rows) the values belong to: metrics average per example, as Ignite's (a `(100, 5)` output is
    /// 100 examples of 5 values).
    public let examples: Int

    /// A batch of predictions and targets of equal length, `examples` rows of them (one value each by default).
    public init(predictions: [Float], targets: [Float], examples: Int? = nil) {
        self.predictions = predictions
        self.targets = targets
        self.examples = examples ?? predictions.count
    }

    /// A batch from a model's predictions and targets tensors holding as many values; its first dimension counts
    /// the examples.
    public init(predictions: Tensor, targets: Tensor) {
        self.init(predictions: predictions.values, targets: targets.values, examples: predictions.shape.first ?? 0)
    }

    /// Each example's value positions, after `validate(metric)`: the rows of a `(examples, width)` batch.
    func exampleRanges(_ metric: String) throws -> [Range<Int>] {
        try validate(metric)
        guard examples > 0 else { return [] }
        let width = predictions.count / examples
        return (0..<examples).map { ($0 * width)..<(($0 + 1) * width) }
    }

    /// Throws unless predictions and targets match and divide into the examples.
    func validate(_ metric: String) throws {
        guard predictions.count == targets.count, examples >= 0,
            examples == 0 ? predictions.isEmpty : predictions.count % examples == 0
        else {
            throw MetricError("\(metric): \(predictions.count) predictions, \(targets.count) targets and \(examples) examples do not match")
        }
    }
}

/// The coefficient of determination R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² over every value (Ignite's `R2Score`).
public final class R2Score: Metric {
    /// [Σ(y − ŷ)², Σy, Σy², count].
    public var sums: [Double] = [0, 0, 0, 0]
    public var communicator: (any Communicator)?
    /// An R², reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: RegressionBatch) throws {
        try batch.validate("R2Score")
        for index in batch.predictions.indices {
            let target = Double(batch.targets[index])
            let residual = target - Double(batch.predictions[index])
            sums[0] += residual * residual
            sums[1] += target
            sums[2] += target * target
        }
        sums[3] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double {
        guard sums[3] > 1 else { throw MetricError("R2Score must have at least two examples before it can be computed") }
        let total = sums[2] - sums[1] * sums[1] / sums[3]
        guard total > 0 else { throw MetricError("R2Score is undefined when every target is the same") }
        return 1 - sums[0] / total
    }
}

/// Mean squared error: the squared differences summed, over the number of examples (Ignite's MeanSquaredError).
public final class MeanSquaredErrorMetric: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// A mean squared error.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: RegressionBatch) throws {
        try batch.validate("MeanSquaredError")
        for index in batch.predictions.indices {
            let difference = Double(batch.predictions[index]) - Double(batch.targets[index])
            sums[0] += difference * difference
        }
        sums[1] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "MeanSquaredError")
    }
}

/// Mean absolute error: the absolute differences summed, over the number of examples (Ignite's MeanAbsoluteError).
public final class MeanAbsoluteErrorMetric: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// A mean absolute error.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: RegressionBatch) throws {
        try batch.validate("MeanAbsoluteError")
        for index in batch.predictions.indices { sums[0] += abs(Double(batch.predictions[index]) - Double(batch.targets[index])) }
        sums[1] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "MeanAbsoluteError")
    }
}

/// The mean of a scalar output over updates.
public final class Average: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// An average.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

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
/// As Ignite, with a communicator every update is a collective: the ranks' values are added in rank order and
/// divided by the world size before they enter the average, so every rank holds the same average, the very bits one
/// process gets from the same per-iteration means. Every rank must update equally often (the padded training sampler
/// guarantees it).
public final class RunningAverage: Metric {
    /// [local average, 1 once a value was seen].
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// The decay.
    public let alpha: Double

    /// A running average with decay `alpha`.
    /// - Throws: `ArgumentError` for an `alpha` outside (0, 1).
    public init(alpha: Double = 0.98, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(alpha > 0 && alpha < 1, "RunningAverage(alpha:)", alpha, "in (0, 1)")
        self.alpha = alpha
        self.communicator = communicator
    }

    /// Moves the average towards `value` (with a communicator, towards the ranks' mean value: a collective).
    public func update(_ value: Double) throws {
        var value = value
        if let communicator, communicator.size > 1 { value = try communicator.allReduce(value, .sum) / Double(communicator.size) }
        sums[0] = sums[1] == 0 ? value : alpha * sums[0] + (1 - alpha) * value
        sums[1] = 1
    }

    /// The average, the same on every rank (the ranks' values were combined at each update); no collective.
    /// - Throws: `MetricError` before the first update.
    public func compute() throws -> Double { try value(from: sums) }

    /// This rank's average, without communicating.
    public var localValue: Double? { sums[1] > 0 ? sums[0] : nil }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "RunningAverage")
    }
}

/// A user's accumulation of a per-batch value (Ignite's `VariableAccumulation`, the base of its `Average` and
/// `GeometricAverage`): `combine(accumulator, value)` from `initial` at each update, with the count of updates; the
/// ranks' accumulators and counts are added in rank order, as Ignite sums them, so `combine` should be a sum of terms.
public final class VariableAccumulation: Metric {
    /// [accumulator, updates].
    public var sums: [Double]
    public var communicator: (any Communicator)?
    /// The accumulator's starting value.
    public let initial: Double
    private let combine: (Double, Double) -> Double

    /// An accumulation starting at `initial`.
    public init(initial: Double = 0, communicator: (any Communicator)? = nil, combine: @escaping (Double, Double) -> Double) {
        self.initial = initial
        self.combine = combine
        self.communicator = communicator
        sums = [initial, 0]
    }

    public func reset() { sums = [initial, 0] }

    /// Combines `value` into the accumulator.
    public func update(_ value: Double) {
        sums[0] = combine(sums[0], value)
        sums[1] += 1
    }

    /// The accumulator and the number of updates over every rank (Ignite's `(accumulator, num_examples)`).
    /// - Throws: `MetricError` before any update on any rank.
    public func computeWithCount() throws -> (accumulator: Double, count: Int) {
        let global = try reducedSums()
        return (try value(from: global), Int(global[1]))
    }

    public func value(from sums: [Double]) throws -> Double {
        guard sums[1] > 0 else { throw MetricError("VariableAccumulation must have at least one example before it can be computed") }
        return sums[0]
    }
}
