import ArgumentParser
import Foundation
import SwiftTrainApp
import Training

/// `swift-train predict`: a checkpoint's model applied to a CSV file's rows.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Write a checkpoint model's predictions for each row of a CSV file (class and probabilities, or value).")

    @Option(help: "The checkpoint file.")
    var checkpoint: String
    @Option(help: "The rows to predict: csv:PATH (features, optionally with the label column, which is ignored).")
    var data: String
    @Option(help: "The CSV file to write, one row per input row, in input order.")
    var output: String
    @Option(help: "The label column to ignore when the rows have one: NAME or last.")
    var labelColumn = "last"

    func validate() throws {
        guard data.hasPrefix("csv:"), data.count > 4 else { throw ValidationError("--data must be csv:PATH, got '\(data)'") }
    }

    func run() throws {
        try OutputProtection.refuse(
            output: output, option: "--output",
            overwriting: [("--data", String(data.dropFirst(4))), ("--checkpoint", checkpoint)])
        let summary = try Prediction.run(
            checkpoint: checkpoint, data: data, output: output,
            labelColumn: LabelColumnSpecification(parsing: labelColumn))
        guard let summary else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(summary), as: UTF8.self))
    }
}
