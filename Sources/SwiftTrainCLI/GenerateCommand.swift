import ArgumentParser
import SwiftTrainApp

/// `swift-train generate`: a language model's continuation of a prompt.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a language-model checkpoint (--data text:PATH runs); the same seed gives the same text.")

    @Option(help: "The checkpoint file of a language model.")
    var checkpoint: String
    @Option(help: "The text to continue (UTF-8; at most the model's context in bytes).")
    var prompt: String
    @Option(parsing: .unconditional, help: "Bytes to generate.")
    var tokens = 200
    @Option(parsing: .unconditional, help: "Sampling temperature (0: always the most likely byte).")
    var temperature = 1.0
    @Option(parsing: .unconditional, help: "Sample only among the K most likely bytes.")
    var topK: Int?
    @Option(parsing: .unconditional, help: "Seed of the sampling.")
    var seed: UInt64 = 0

    func run() throws {
        print(
            try TextGeneration.run(
                checkpoint: checkpoint, prompt: prompt, tokens: tokens, temperature: temperature, topK: topK,
                seed: seed))
    }
}
