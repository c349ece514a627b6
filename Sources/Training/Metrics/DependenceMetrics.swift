import Cluster
import EngineCore
import Foundation

/// Two sets of feature vectors for the same samples (`rows` of each, row-major), for HSIC and MMD.
public struct FeaturePairBatch: Sendable {
    /// `rows x (x.count / rows)` features.
    public let x: [Float]
    /// `rows x (y.count / rows)` features.
    public let y: [Float]
    /// Samples in the batch.
    public let rows: Int

    /// A batch of `rows` samples of each.
    public init(x: [Float], y: [Float], rows: Int) {
        self.x = x
        self.y = y
        self.rows = rows
    }

    /// The squared Euclidean distances between the rows of `values`, `rows x rows`.
    static func squaredDistances(_ values: [Float], rows: Int) -> [Double] {
        let width = values.count / rows
        var distances = [Double](repeating: 0, count: rows * rows)
        for i in 0..<rows {
            for j in 0..<rows where j != i {
                var total = 0.0
                for k in 0..<width {
                    let difference = Double(values[i * width + k]) - Double(values[j * width + k])
                    total += difference * difference
                }
                distances[i * rows + j] = total
            }
        }
        return distances
    }

    func validate(_ metric: String, sameShape: Bool) throws {
        guard rows > 0, x.count % rows == 0, y.count % rows == 0, !x.isEmpty, !y.isEmpty, !sameShape || x.count == y.count else {
            throw MetricError("\(metric): \(x.count) and \(y.count) features do not split into \(rows) samples\(sameShape ? " of one shape" : "")")
        }
    }
}

/// The mutual information between the input and the predicted class, H(E[p]) − E[H(p)] with p the softmax of the
/// scores (Ignite's `MutualInformation`), from sums over every rank.
public final class MutualInformation: Metric {
    /// [Σ entropies, samples, Σ probability of each class...].
    public var sums: [Double]
    public var communicator: (any Communicator)?
    /// Classes of the scores.
    public let classes: Int

    /// A mutual information over `classes` classes.
    /// - Throws: `ArgumentError` for fewer than 2 classes.
    public init(classes: Int, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(classes >= 2, "MutualInformation(classes:)", classes, "at least 2")
        self.classes = classes
        self.communicator = communicator
        sums = Array(repeating: 0, count: classes + 2)
    }

    public func update(_ batch: ClassificationBatch) throws {
        try batch.validate(metric: "MutualInformation", classes: classes, labelsInRange: false)
        for row in 0..<batch.valid {
            for (index, logProbability) in logSoftmax(batch.scores[(row * classes)..<((row + 1) * classes)]).enumerated() {
                let probability = exp(logProbability)
                sums[2 + index] += probability
                sums[0] -= probability * logProbability
            }
        }
        sums[1] += Double(batch.valid)
    }

    public func value(from sums: [Double]) throws -> Double {
        let samples = sums[1]
        guard samples > 0 else { throw MetricError("MutualInformation must have at least one example before it can be computed") }
        let marginal = sums[2...].map { $0 / samples }
        let marginalEntropy = -marginal.reduce(0.0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
        return Swift.max(0, marginalEntropy - sums[0] / samples)
    }
}

/// The maximum mean discrepancy between two samples' distributions with a Gaussian kernel of bandwidth `variance`
/// (Ignite's `MaximumMeanDiscrepancy`): unbiased per-batch terms, averaged over every rank's batches.
public final class MaximumMeanDiscrepancy: Metric {
    /// [Σ k(x, x'), Σ k(y, y'), Σ k(x, y), batches].
    public var sums: [Double] = [0, 0, 0, 0]
    public var communicator: (any Communicator)?
    /// The kernel's σ².
    public let variance: Double

    /// A discrepancy with kernel bandwidth `variance`.
    /// - Throws: `ArgumentError` for a bandwidth that is not positive.
    public init(variance: Double = 1, communicator: (any Communicator)? = nil) throws {
        try ArgumentError.require(variance > 0 && variance.isFinite, "MaximumMeanDiscrepancy(variance:)", variance, "a positive number")
        self.variance = variance
        self.communicator = communicator
    }

    public func update(_ batch: FeaturePairBatch) throws {
        try batch.validate("MaximumMeanDiscrepancy", sameShape: true)
        let n = batch.rows
        guard n >= 2 else { throw MetricError("MaximumMeanDiscrepancy: a batch needs at least 2 samples") }
        let kernel = { (distance: Double) in exp(-0.5 * distance / self.variance) }
        let xx = FeaturePairBatch.squaredDistances(batch.x, rows: n).reduce(0.0) { $0 + kernel($1) } - Double(n)
        let yy = FeaturePairBatch.squaredDistances(batch.y, rows: n).reduce(0.0) { $0 + kernel($1) } - Double(n)
        let width = batch.x.count / n
        var xy = 0.0
        for i in 0..<n {
            for j in 0..<n {
                var total = 0.0
                for k in 0..<width {
                    let difference = Double(batch.x[i * width + k]) - Double(batch.y[j * width + k])
                    total += difference * difference
                }
                xy += kernel(total)
            }
        }
        let pairs = Double(n * (n - 1))
        sums[0] += xx / pairs
        sums[1] += yy / pairs
        sums[2] += xy / Double(n * n)
        sums[3] += 1
    }

    public func value(from sums: [Double]) throws -> Double {
        guard sums[3] > 0 else { throw MetricError("MaximumMeanDiscrepacy must have at least one batch before it can be computed") }
        return (Swift.max(0, sums[0] + sums[1] - 2 * sums[2]) / sums[3]).squareRoot()
    }
}

/// The Hilbert-Schmidt independence criterion between two feature sets with Gaussian kernels (Ignite's `HSIC`): the
/// unbiased estimate per batch, averaged over every rank's batches; bandwidths are the median distance unless given.
public final class HSIC: Metric {
    /// [Σ HSIC, batches].
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// The kernels' σ for x and y; negative: the median of the batch's squared distances is σ².
    public let sigmaX: Double
    /// The kernel's σ for y (negative: the median heuristic, as for x).
    public let sigmaY: Double
    /// Whether batches of 3 samples or fewer are skipped (else refused).
    public let ignoresInvalidBatches: Bool

    /// An HSIC with the given bandwidths.
    public init(sigmaX: Double = -1, sigmaY: Double = -1, ignoresInvalidBatches: Bool = true, communicator: (any Communicator)? = nil) {
        (self.sigmaX, self.sigmaY, self.ignoresInvalidBatches) = (sigmaX, sigmaY, ignoresInvalidBatches)
        self.communicator = communicator
    }

    public func update(_ batch: FeaturePairBatch) throws {
        try batch.validate("HSIC", sameShape: false)
        let b = batch.rows
        guard b > 3 else {
            if ignoresInvalidBatches { return }
            throw MetricError("HSIC: a batch must contain more than four samples, got only \(b) samples")
        }
        func gram(_ values: [Float], sigma: Double) -> [Double] {
            let distances = FeaturePairBatch.squaredDistances(values, rows: b)
            // torch's quantile(·, 0.5) interpolates the two middle values: the median.
            let variance = sigma < 0 ? EpochMetric.median(distances) : sigma * sigma
            return distances.enumerated().map { index, distance in index / b == index % b ? 0 : exp(-0.5 * distance / variance) }
        }
        let k = gram(batch.x, sigma: sigmaX)
        let l = gram(batch.y, sigma: sigmaY)
        var trace = 0.0
        var productSum = 0.0
        for i in 0..<b {
            for j in 0..<b {
                var entry = 0.0
                for m in 0..<b { entry += k[i * b + m] * l[m * b + j] }
                productSum += entry
                if i == j { trace += entry }
            }
        }
        let (n, kSum, lSum) = (Double(b), k.reduce(0, +), l.reduce(0, +))
        let hsic = (trace + kSum * lSum / ((n - 1) * (n - 2)) - 2 * productSum / (n - 2)) / (n * (n - 3))
        sums[0] += Swift.max(0, hsic)
        sums[1] += 1
    }

    public func value(from sums: [Double]) throws -> Double {
        guard sums[1] > 0 else { throw MetricError("HSIC must have at least one batch before it can be computed") }
        return sums[0] / sums[1]
    }

}
