import ArgumentParser
import SwiftTrainApp
import Training

/// `swift-train evaluate`: test accuracy and loss of a checkpoint's model.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a checkpoint's model on its test split or on other data.")

    @Option(help: "The checkpoint file.")
    var checkpoint: String
    @Option(help: "Data to evaluate on (builtin, csv:PATH or idx:DIR); default: the checkpoint run's test split.")
    var data: String?
    @Option(help: "Samples per evaluation batch on each rank.")
    var batchSize = 256

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be a positive integer, got \(batchSize)") }
        if let data {
            do { _ = try DataSpecification(parsing: data) } catch let error as ConfigurationError {
                throw ValidationError(error.description)
            }
        }
    }

    func run() throws {
        let summary = try TrainingLauncher.evaluate(
            checkpoint: checkpoint, data: try data.map(DataSpecification.init(parsing:)), batchSize: batchSize)
        if let summary { print(summary.jsonLine) }
    }
}
