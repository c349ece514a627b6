import EngineCore

/// Per-feature mean and standard deviation of a training split, applied to every split.
///
/// A constant feature gets a standard deviation of 1 (it is only centred). The statistics travel in the
/// checkpoint so that `evaluate` normalises new data exactly as training did.
public struct FeatureStatistics: Sendable, Equatable {
    /// Mean of each feature.
    public var mean: [Float]
    /// Standard deviation of each feature (1 where it is zero).
    public var standardDeviation: [Float]

    /// The statistics of `dataset`'s features.
    public init(_ dataset: Dataset) {
        let width = dataset.featureCount
        let count = max(dataset.count, 1)
        var sum = Array(repeating: 0.0, count: width)
        var squares = Array(repeating: 0.0, count: width)
        for row in 0..<dataset.count {
            for column in 0..<width {
                let value = Double(dataset.features[row * width + column])
                sum[column] += value
                squares[column] += value * value
            }
        }
        mean = sum.map { Float($0 / Double(count)) }
        standardDeviation = (0..<width).map { column in
            let average = sum[column] / Double(count)
            let variance = max(squares[column] / Double(count) - average * average, 0)
            let deviation = variance.squareRoot()
            return deviation > 1e-12 ? Float(deviation) : 1
        }
    }

    /// Statistics given directly.
    public init(mean: [Float], standardDeviation: [Float]) {
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    /// Standardises `dataset`'s features in place: (x − mean) / std.
    public func apply(to dataset: inout Dataset) {
        precondition(dataset.featureCount == mean.count, "statistics of another feature count")
        let width = mean.count
        for index in dataset.features.indices {
            let column = index % width
            dataset.features[index] = (dataset.features[index] - mean[column]) / standardDeviation[column]
        }
    }
}

/// Feature statistics as a checkpoint object.
public final class NormalizationState: Stateful {
    /// The statistics saved or restored.
    public private(set) var statistics: FeatureStatistics

    /// Wraps `statistics`.
    public init(_ statistics: FeatureStatistics) { self.statistics = statistics }

    public func stateDict() -> StateDict {
        [
            "mean": .tensor(shape: [statistics.mean.count], values: statistics.mean),
            "std": .tensor(shape: [statistics.standardDeviation.count], values: statistics.standardDeviation)
        ]
    }

    public func loadStateDict(_ state: StateDict) throws {
        let mean = try state.tensor("mean")
        let std = try state.tensor("std")
        guard mean.values.count == std.values.count else {
            throw StateDictError.shapeMismatch(key: "std", expected: mean.shape, found: std.shape)
        }
        statistics = FeatureStatistics(mean: mean.values, standardDeviation: std.values)
    }
}
