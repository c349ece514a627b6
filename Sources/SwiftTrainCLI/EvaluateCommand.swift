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
    @Option(help: "The label column of --data when it differs from the run's (NAME or last).")
    var labelColumn: String?
    @Option(help: "Without --data: the run's test split (default) or all of its data.")
    var split: SplitOption = .test

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
            checkpoint: checkpoint, data: try data.map(DataSpecification.init(parsing:))?.resolved, batchSize: batchSize,
            labelColumn: labelColumn.map(LabelColumnSpecification.init(parsing:)), wholeData: split == .all)
        if let summary { print(summary.jsonLine) }
    }
}
