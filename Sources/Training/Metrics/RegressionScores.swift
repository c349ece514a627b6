import Cluster
import EngineCore
import Foundation

/// Ignite's regression metrics that add one error per value (`ignite.metrics.regression`): sums over every value,
/// means over the examples (the rows), reduced across ranks in rank order like every summing metric.
public final class RegressionScore: Metric {
    /// Which error, with Ignite's formula (y the target, ŷ the prediction).
    public enum Kind: String, Sendable, CaseIterable {
        /// Σ |y − ŷ| / (|ŷ| + |y|) (`CanberraMetric`).
        case canberra = "CanberraMetric"
        /// mean of 2|y − ŷ| / (|ŷ| + |y|) (`FractionalAbsoluteError`).
        case fractionalAbsoluteError = "FractionalAbsoluteError"
        /// mean of 2(y − ŷ) / (ŷ + y) (`FractionalBias`).
        case fractionalBias = "FractionalBias"
        /// exp(mean of log|y − ŷ|) (`GeometricMeanAbsoluteError`).
        case geometricMeanAbsoluteError = "GeometricMeanAbsoluteError"
        /// Σ |y − ŷ| (`ManhattanDistance`).
        case manhattanDistance = "ManhattanDistance"
        /// mean of |y − ŷ| / |y|; a target of 0 is refused (`MeanAbsoluteRelativeError`).
        case meanAbsoluteRelativeError = "MeanAbsoluteRelativeError"
        /// mean of y − ŷ (`MeanError`).
        case meanError = "MeanError"
        /// mean of (y − ŷ) / y; a target of 0 is refused (`MeanNormalizedBias`).
        case meanNormalizedBias = "MeanNormalizedBias"
        /// Σ |y − ŷ| / max(y, ŷ) (`WaveHedgesDistance`).
        case waveHedgesDistance = "WaveHedgesDistance"
    }

    /// [Σ error, examples].
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// The error this metric adds up.
    public let kind: Kind

    /// A score of `kind`, reduced over `communicator`'s ranks when given.
    public init(_ kind: Kind, communicator: (any Communicator)? = nil) {
        self.kind = kind
        self.communicator = communicator
    }

    public func update(_ batch: RegressionBatch) throws {
        try batch.validate(kind.rawValue)
        if [.meanAbsoluteRelativeError, .meanNormalizedBias].contains(kind), batch.targets.contains(0) {
            throw MetricError("\(kind.rawValue): the ground truth has 0")
        }
        var total = 0.0
        for (predicted, target) in zip(batch.predictions, batch.targets) {
            let (p, y) = (Double(predicted), Double(target))
            switch kind {
            case .canberra: total += abs(y - p) / (abs(p) + abs(y) + 1e-15)
            case .fractionalAbsoluteError: total += 2 * abs(y - p) / (abs(p) + abs(y))
            case .fractionalBias: total += 2 * (y - p) / (p + y + 1e-30)
            case .geometricMeanAbsoluteError: total += log(abs(y - p))
            case .manhattanDistance: total += abs(y - p)
            case .meanAbsoluteRelativeError: total += abs(p - y) / abs(y)
            case .meanError: total += y - p
            case .meanNormalizedBias: total += (y - p) / y
            case .waveHedgesDistance: total += abs(y - p) / (Swift.max(p, y) + 1e-30)
            }
        }
        sums[0] += total
        sums[1] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double {
        switch kind {
        case .canberra, .manhattanDistance, .waveHedgesDistance: return sums[0]
        case .geometricMeanAbsoluteError: return exp(try mean(of: sums, kind.rawValue))
        default: return try mean(of: sums, kind.rawValue)
        }
    }
}

/// The largest |y − ŷ| over every rank's values (Ignite's `MaximumAbsoluteError`), combined with a maximum.
public final class MaximumAbsoluteError: Metric {
    /// [largest error, values seen].
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?

    /// A maximum, over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: RegressionBatch) throws {
        try batch.validate("MaximumAbsoluteError")
        for (predicted, target) in zip(batch.predictions, batch.targets) {
            let error = abs(Double(predicted) - Double(target))
            sums[0] = sums[1] == 0 ? error : Swift.max(sums[0], error)
            sums[1] += 1
        }
    }

    /// The largest error over every rank (a collective when `communicator` is set).
    public func compute() throws -> Double {
        guard let communicator, communicator.size > 1 else { return try Self.largest(sums) }
        let seen = try communicator.allReduce(sums[1], .sum)
        // A rank that saw nothing offers -inf, so it never wins.
        let largest = try communicator.allReduce(sums[1] > 0 ? sums[0] : -.infinity, .max)
        return try Self.largest([largest, seen])
    }

    /// The largest error of one process's values; summed sums of several ranks are not a maximum.
    /// - Throws: `MetricError` with no value, or in a world of several ranks (call `compute()`).
    public func value(from sums: [Double]) throws -> Double {
        if let communicator, communicator.size > 1 {
            throw MetricError(
                "MaximumAbsoluteError combines ranks with a maximum: call compute(), not value(from:), in a world of \(communicator.size) ranks")
        }
        return try Self.largest(sums)
    }

    static func largest(_ sums: [Double]) throws -> Double {
        guard sums[1] > 0 else { throw MetricError("MaximumAbsoluteError must have at least one example before it can be computed") }
        return sums[0]
    }
}

extension EpochMetric {
    /// median |y − ŷ| over every rank's values (Ignite's `MedianAbsoluteError`).
    public static func medianAbsoluteError(communicator: (any Communicator)? = nil) -> EpochMetric {
        EpochMetric(communicator: communicator) { predictions, targets in
            median(zip(predictions, targets).map { abs(Double($1) - Double($0)) })
        }
    }

    /// 100 × median |y − ŷ| / |y| (Ignite's `MedianAbsolutePercentageError`).
    public static func medianAbsolutePercentageError(communicator: (any Communicator)? = nil) -> EpochMetric {
        EpochMetric(communicator: communicator) { predictions, targets in
            100 * median(zip(predictions, targets).map { abs(Double($1) - Double($0)) / abs(Double($1)) })
        }
    }

    /// median |y − ŷ| / |y − ȳ| (Ignite's `MedianRelativeAbsoluteError`).
    public static func medianRelativeAbsoluteError(communicator: (any Communicator)? = nil) -> EpochMetric {
        EpochMetric(communicator: communicator) { predictions, targets in
            let mean = targets.reduce(0.0) { $0 + Double($1) } / Double(targets.count)
            return median(zip(predictions, targets).map { abs(Double($1) - Double($0)) / abs(Double($1) - mean) })
        }
    }

    /// exp(mean log(|y − ŷ| / |y − ȳ|)) (Ignite's `GeometricMeanRelativeAbsoluteError`).
    public static func geometricMeanRelativeAbsoluteError(communicator: (any Communicator)? = nil) -> EpochMetric {
        EpochMetric(communicator: communicator) { predictions, targets in
            let mean = targets.reduce(0.0) { $0 + Double($1) } / Double(targets.count)
            let logs = zip(predictions, targets).map { log(abs(Double($1) - Double($0)) / abs(Double($1) - mean)) }
            return exp(logs.reduce(0, +) / Double(logs.count))
        }
    }

    /// Spearman's rank correlation of predictions and targets, ties at their mean rank (Ignite's
    /// `SpearmanRankCorrelation`, scipy's `spearmanr`).
    public static func spearmanRankCorrelation(communicator: (any Communicator)? = nil) -> EpochMetric {
        EpochMetric(communicator: communicator) { predictions, targets in
            try pearson(ranks(predictions.map(Double.init)), ranks(targets.map(Double.init)), "SpearmanRankCorrelation")
        }
    }

    /// Kendall's τ-b of predictions and targets (Ignite's `KendallRankCorrelation`, scipy's `kendalltau`).
    public static func kendallRankCorrelation(communicator: (any Communicator)? = nil) -> EpochMetric {
        EpochMetric(communicator: communicator) { predictions, targets in
            let (x, y) = (predictions.map(Double.init), targets.map(Double.init))
            var (concordant, discordant, tiesX, tiesY) = (0.0, 0.0, 0.0, 0.0)
            for i in x.indices {
                for j in (i + 1)..<x.count {
                    let (dx, dy) = (x[i] - x[j], y[i] - y[j])
                    if dx == 0 && dy == 0 { continue }
                    if dx == 0 {
                        tiesX += 1
                    } else if dy == 0 {
                        tiesY += 1
                    } else if (dx > 0) == (dy > 0) {
                        concordant += 1
                    } else {
                        discordant += 1
                    }
                }
            }
            let denominator = ((concordant + discordant + tiesX) * (concordant + discordant + tiesY)).squareRoot()
            guard denominator > 0 else { throw MetricError("KendallRankCorrelation is undefined when predictions or targets are all equal") }
            return (concordant - discordant) / denominator
        }
    }

    /// The median, the mean of the two middle values for an even count (torch's `kthvalue` pair, as Ignite).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 0 ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
    }

    /// Ranks from 1, ties at their mean rank.
    static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            for position in start...end { ranks[order[position]] = Double(start + end) / 2 + 1 }
            start = end + 1
        }
        return ranks
    }

    /// Pearson's correlation of two samples.
    static func pearson(_ x: [Double], _ y: [Double], _ name: String) throws -> Double {
        let n = Double(x.count)
        let (meanX, meanY) = (x.reduce(0, +) / n, y.reduce(0, +) / n)
        var (covariance, varianceX, varianceY) = (0.0, 0.0, 0.0)
        for (a, b) in zip(x, y) {
            covariance += (a - meanX) * (b - meanY)
            varianceX += (a - meanX) * (a - meanX)
            varianceY += (b - meanY) * (b - meanY)
        }
        guard varianceX > 0, varianceY > 0 else { throw MetricError("\(name) is undefined when predictions or targets are all equal") }
        return covariance / (varianceX * varianceY).squareRoot()
    }
}
