import Foundation
import Training

/// The one-line JSON result rank 0 prints last on standard output, for `train` and `evaluate` alike.
///
/// A classification reports `test_loss` and by default `test_accuracy`; a regression `test_loss` (the MSE), `test_mse`
/// and by default `test_mae` and `test_r2`; `--metrics` chooses the others (`test_f1`, ...). A value that is not a
/// finite number is written as `null`, never dropped.
public struct TrainingSummary: Encodable, Sendable, Equatable {
    /// Epochs completed.
    public var epoch: Int
    /// The iteration it happened at.
    public var iteration: Int
    /// Ranks that ran it.
    public var worldSize: Int
    /// The run's task.
    public var task: LearningTask
    /// Test metrics by summary name (`test_accuracy`, `test_loss`, `test_mse`, `test_mae`, `test_r2`).
    public var metrics: [String: Double]
    /// Training samples per second over the whole world (evaluation and checkpoints excluded).
    public var trainSamplesPerSecond: Double
    /// SHA-256 of the final parameters' bytes, the same on every rank.
    public var parametersSHA256: String
    public var parameters: Int
    /// The last checkpoint written, nil without --checkpoint-dir.
    public var checkpoint: String?
    /// Tokens per sample of a language model (its context): `train_tokens_per_s` is the samples/s times this.
    public var tokensPerSample = 0
    /// What `--lr-find` found (the summary then has no test metrics: nothing was trained).
    public var learningRateSearch: LearningRateSearchSummary?

    /// A summary.
    public init(
        epoch: Int, iteration: Int, worldSize: Int, task: LearningTask, metrics: [String: Double],
        trainSamplesPerSecond: Double, parametersSHA256: String, parameters: Int, checkpoint: String?
    ) {
        self.epoch = epoch
        self.iteration = iteration
        self.worldSize = worldSize
        self.task = task
        self.metrics = metrics
        self.trainSamplesPerSecond = trainSamplesPerSecond
        self.parametersSHA256 = parametersSHA256
        self.parameters = parameters
        self.checkpoint = checkpoint
    }

    /// The summary's metric names: the task's loss and every test metric computed, sorted.
    var metricNames: [String] {
        let loss = task == .regression ? ["test_loss", "test_mse"] : ["test_loss"]
        return Set(loss + metrics.keys.filter { $0.hasPrefix("test_") }).sorted()
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        func number(_ value: Double?, _ key: String) throws {
            if let value, value.isFinite { try container.encode(value, forKey: Key(key)) } else { try container.encodeNil(forKey: Key(key)) }
        }
        try container.encode(epoch, forKey: Key("epoch"))
        try container.encode(iteration, forKey: Key("iteration"))
        try container.encode(worldSize, forKey: Key("world_size"))
        try container.encode(task.rawValue, forKey: Key("task"))
        if let search = learningRateSearch {
            try container.encode(search.rates, forKey: Key("lr_find_rates"))
            try container.encode(search.losses.map { $0.isFinite ? $0 : nil }, forKey: Key("lr_find_losses"))
            try container.encode(search.diverged, forKey: Key("lr_find_diverged"))
            try number(search.suggestion, "lr_suggestion")
            try container.encode(parametersSHA256, forKey: Key("parameters_sha256"))
            return
        }
        for name in metricNames { try number(metrics[name], name) }
        try number(trainSamplesPerSecond, "train_samples_per_s")
        if task == .languageModel { try number(trainSamplesPerSecond * Double(tokensPerSample), "train_tokens_per_s") }
        try container.encode(parametersSHA256, forKey: Key("parameters_sha256"))
        try container.encode(parameters, forKey: Key("parameters"))
        if let checkpoint { try container.encode(checkpoint, forKey: Key("checkpoint")) } else { try container.encodeNil(forKey: Key("checkpoint")) }
    }

    /// The summary as one JSON object on one line, keys sorted.
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return #"{"error":"the summary could not be encoded"}"# }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The rates and smoothed losses of a `--lr-find` search, whether it diverged, and the suggested rate (nil when the loss
/// never fell long enough to suggest one).
public struct LearningRateSearchSummary: Sendable, Equatable {
    /// The learning rates tried, in order.
    public var rates: [Double]
    /// The smoothed loss at each rate.
    public var losses: [Double]
    /// Whether the search stopped because the loss diverged.
    public var diverged: Bool
    /// The suggested learning rate (steepest descent of the loss), nil when the loss never fell.
    public var suggestion: Double?
}
