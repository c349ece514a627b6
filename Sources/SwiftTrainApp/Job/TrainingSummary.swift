import Training
import Foundation

/// The one-line JSON result rank 0 prints last on standard output, for `train` and `evaluate` alike.
public struct TrainingSummary: Codable, Sendable, Equatable {
    public var epoch: Int
    public var iteration: Int
    public var worldSize: Int
    public var testAccuracy: Double
    public var testLoss: Double
    public var trainSamplesPerSecond: Double
    public var parametersSHA256: String
    public var parameters: Int
    public var checkpoint: String?

    enum CodingKeys: String, CodingKey {
        case epoch, iteration, parameters, checkpoint
        case worldSize = "world_size"
        case testAccuracy = "test_accuracy"
        case testLoss = "test_loss"
        case trainSamplesPerSecond = "train_samples_per_s"
        case parametersSHA256 = "parameters_sha256"
    }

    /// The summary as one JSON object on one line, keys sorted.
    public var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
