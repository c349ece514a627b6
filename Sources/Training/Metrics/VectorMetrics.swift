import Cluster
import EngineCore
import Foundation

// Metrics over pairs of vectors (a `RegressionBatch`'s examples, each `values / examples` long) and over score
// distributions (a `ClassificationBatch`'s logits), with Ignite's definitions and its `eps` defaults. Each keeps sums
// (counts included) that reduce across ranks like every metric.

/// The mean over examples of the cosine of the angle between prediction and target (Ignite's `CosineSimilarity`).
public final class CosineSimilarity: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// The smallest norm divided by (a zero vector scores 0, not NaN).
    public let epsilon: Double

    /// A cosine similarity, reduced over `communicator`'s ranks when given.
    public init(epsilon: Double = 1e-8, communicator: (any Communicator)? = nil) {
        self.epsilon = epsilon
        self.communicator = communicator
    }

    public func update(_ batch: RegressionBatch) throws {
        for range in try batch.exampleRanges("CosineSimilarity") {
            var dot = 0.0
            var predicted = 0.0
            var target = 0.0
            for index in range {
                let (a, b) = (Double(batch.predictions[index]), Double(batch.targets[index]))
                dot += a * b
                predicted += a * a
                target += b * b
            }
            sums[0] += dot / (Swift.max(predicted.squareRoot(), epsilon) * Swift.max(target.squareRoot(), epsilon))
        }
        sums[1] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double { try mean(of: sums, "CosineSimilarity") }
}

/// The mean over examples of the p-norm distance `‖prediction − target + ε‖ₚ` (Ignite's `MeanPairwiseDistance`).
public final class MeanPairwiseDistance: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// The norm's order.
    public let p: Double
    /// Added to each difference, as PyTorch's `pairwise_distance`.
    public let epsilon: Double

    /// A mean distance of order `p` (positive).
    /// - Throws: `ArgumentError` for an order that is not positive.
    public init(p: Double = 2, epsilon: Double = 1e-6, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(p > 0 && p.isFinite, "MeanPairwiseDistance(p:)", p, "a positive number")
        self.p = p
        self.epsilon = epsilon
        self.communicator = communicator
    }

    public func update(_ batch: RegressionBatch) throws {
        for range in try batch.exampleRanges("MeanPairwiseDistance") {
            var total = 0.0
            for index in range {
                total += pow(abs(Double(batch.predictions[index]) - Double(batch.targets[index]) + epsilon), p)
            }
            sums[0] += pow(total, 1 / p)
        }
        sums[1] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double { try mean(of: sums, "MeanPairwiseDistance") }
}

/// Pearson's correlation between every predicted and target value (Ignite's `PearsonCorrelation`).
public final class PearsonCorrelation: Metric {
    /// [Σŷ, Σy, Σŷ², Σy², Σŷy, n].
    public var sums: [Double] = [0, 0, 0, 0, 0, 0]
    public var communicator: (any Communicator)?
    /// The smallest product of standard deviations divided by.
    public let epsilon: Double

    /// A correlation, reduced over `communicator`'s ranks when given.
    public init(epsilon: Double = 1e-8, communicator: (any Communicator)? = nil) {
        self.epsilon = epsilon
        self.communicator = communicator
    }

    public func update(_ batch: RegressionBatch) throws {
        try batch.validate("PearsonCorrelation")
        for (predicted, target) in zip(batch.predictions, batch.targets) {
            let (a, b) = (Double(predicted), Double(target))
            sums[0] += a
            sums[1] += b
            sums[2] += a * a
            sums[3] += b * b
            sums[4] += a * b
        }
        sums[5] += Double(batch.predictions.count)
    }

    public func value(from sums: [Double]) throws -> Double {
        let n = sums[5]
        guard n > 0 else { throw MetricError("PearsonCorrelation must have at least one example before it can be computed") }
        let covariance = sums[4] / n - sums[0] * sums[1] / (n * n)
        let predictedMean = sums[0] / n
        let targetMean = sums[1] / n
        let predictedVariance = Swift.max(sums[2] / n - predictedMean * predictedMean, 0)
        let targetVariance = Swift.max(sums[3] / n - targetMean * targetMean, 0)
        return covariance / Swift.max((predictedVariance * targetVariance).squareRoot(), epsilon)
    }
}

/// The mean entropy of the predicted distributions, softmax of the scores (Ignite's `Entropy`).
public final class Entropy: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// An entropy, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: ClassificationBatch) throws {
        try batch.validate(metric: "Entropy", classes: nil, labelsInRange: false)
        for row in 0..<batch.valid {
            let logProbabilities = logSoftmax(batch.scores[(row * batch.classes)..<((row + 1) * batch.classes)])
            sums[0] -= logProbabilities.reduce(0) { $0 + exp($1) * $1 }
        }
        sums[1] += Double(batch.valid)
    }

    public func value(from sums: [Double]) throws -> Double { try mean(of: sums, "Entropy") }
}

/// The mean Kullback–Leibler divergence `KL(softmax(target) ‖ softmax(prediction))` of score vectors
/// (Ignite's `KLDivergence`: both are logits).
public final class KLDivergence: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// A divergence, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: RegressionBatch) throws {
        for range in try batch.exampleRanges("KLDivergence") {
            let predicted = logSoftmax(batch.predictions[range])
            let target = logSoftmax(batch.targets[range])
            sums[0] += zip(target, predicted).reduce(0) { $0 + exp($1.0) * ($1.0 - $1.1) }
        }
        sums[1] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double { try mean(of: sums, "KLDivergence") }
}

/// The mean Jensen–Shannon divergence of the softmax distributions of prediction and target score vectors: half
/// the divergences of each from their average (Ignite's `JSDivergence`: both are logits).
public final class JSDivergence: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// A divergence, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: RegressionBatch) throws {
        for range in try batch.exampleRanges("JSDivergence") {
            let predicted = logSoftmax(batch.predictions[range])
            let target = logSoftmax(batch.targets[range])
            for (p, q) in zip(predicted, target) {
                let average = log((exp(p) + exp(q)) / 2)
                sums[0] += exp(p) * (p - average) + exp(q) * (q - average)
            }
        }
        sums[1] += Double(batch.examples)
    }

    public func value(from sums: [Double]) throws -> Double { try mean(of: sums, "JSDivergence") / 2 }
}

/// The log-softmax of scores, in double precision.
func logSoftmax(_ scores: ArraySlice<Float>) -> [Double] {
    let top = Double(scores.max() ?? 0)
    let total = scores.reduce(0.0) { $0 + exp(Double($1) - top) }
    let logTotal = log(total) + top
    return scores.map { Double($0) - logTotal }
}

/// The geometric mean of positive values (Ignite's `GeometricAverage`): `exp(mean(log x))`.
public final class GeometricAverage: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// A geometric average, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    /// Adds one value.
    /// - Throws: `MetricError` for a value that is not positive.
    public func update(_ value: Double) throws {
        guard value > 0 else { throw MetricError("GeometricAverage takes positive values, got \(value)") }
        sums[0] += log(value)
        sums[1] += 1
    }

    public func value(from sums: [Double]) throws -> Double { exp(try mean(of: sums, "GeometricAverage")) }
}
