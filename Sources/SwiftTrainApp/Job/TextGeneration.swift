import Foundation
import NeuralNet
import Training

/// `swift-train generate`: a language-model checkpoint continues a prompt.
public enum TextGeneration {
    /// A checkpoint that is not a language model's.
    public struct NotALanguageModel: Error, CustomStringConvertible {
        public let path: String, task: String
        public var description: String { "checkpoint \(path) is a \(task) run, not a language model: train one with --data text:PATH" }
    }

    /// The continuation of `prompt` (UTF-8 bytes as tokens) by the model of the checkpoint at `path`.
    public static func run(
        checkpoint path: String, prompt: String, tokens count: Int, temperature: Double, topK: Int?,
        seed: UInt64
    ) throws -> String {
        if prompt.unicodeScalars.contains("\u{FFFD}") {
            throw TextGenerationError.badSetting("the prompt is not valid UTF-8 text")
        }
        guard count >= 0, count <= 100_000 else { throw TextGenerationError.badSetting("--tokens must be 0 to 100,000, got \(count)") }
        let tree = try CheckpointFile.read(URL(fileURLWithPath: path))
        guard case .dictionary(let jobState)? = tree["job"] else { throw CheckpointError.missingObject(name: "job") }
        let record = JobRecord(configuration: TrainingConfiguration(), worldSize: 1)
        try record.loadStateDict(jobState)
        let configuration = record.configuration
        guard configuration.model.isLanguageModel, case .fixed(.languageModel) = configuration.task else {
            throw NotALanguageModel(path: path, task: configuration.task.description)
        }
        let model = try ModelFactory.makeModel(
            configuration.model, sampleShape: [configuration.context], classes: TextCorpus.vocabulary,
            seed: configuration.seed)
        try Checkpoint.loadObjects(toLoad: ["model": ModelState(model)], checkpoint: tree)
        var generator = try TextGenerator(model: model, context: configuration.context, temperature: temperature, topK: topK, seed: seed)
        let continuation = try generator.continuation(of: Array(prompt.utf8).map(Int.init), count: count)
        return String(decoding: continuation.map(UInt8.init), as: UTF8.self)
    }
}
