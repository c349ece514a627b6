import ArgumentParser
import Foundation
import SwiftTrainApp

/// `swift-train lr-find`: the learning-rate range test (Ignite's `FastaiLRFinder`) on the run the training options
/// describe: the rate rises exponentially from `--lr` to 10 over `--iterations` steps, then the model and optimizer are
/// restored. Prints the rates, smoothed losses and the suggestion; `--plot` draws them, as `report` does from `--log`.
struct LearningRateFindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lr-find",
        abstract: "Search for a learning rate (a range test from --lr to 10) on the run the training options describe.")

    @Option(help: "Iterations of the search (2 to 1,000,000).")
    var iterations = 100

    @Option(help: "Also draw the loss against the rate, with the suggestion, as .svg or .png (needs rsvg-convert).")
    var plot: String?

    @OptionGroup var training: TrainCommand

    func validate() throws {
        guard training.lrFind == nil else { throw ValidationError("lr-find takes --iterations; --lr-find is the train command's") }
        guard training.checkpointDir == nil else { throw ValidationError("lr-find saves nothing: --checkpoint-dir does not apply") }
        guard training.resume == nil else { throw ValidationError("lr-find searches from the start: --resume does not apply") }
        if let plot {
            let kind = URL(fileURLWithPath: plot).pathExtension.lowercased()
            guard kind == "svg" || kind == "png" else {
                throw ValidationError("--plot \(plot): the figure is written as .svg or .png; name the file so")
            }
        }
        var configuration = try training.makeConfiguration()
        configuration.learningRateSearch = iterations
        do { try configuration.validate(ranksHere: training.simulateRanks ?? 1) } catch let error as ConfigurationError {
            throw ValidationError(error.description.replacingOccurrences(of: "--lr-find", with: "--iterations"))
        }
    }

    func run() throws {
        var configuration = try training.makeConfiguration()
        configuration.learningRateSearch = iterations
        guard let summary = try TrainingLauncher.train(configuration, simulatedRanks: training.simulateRanks) else { return }
        if let plot, let search = summary.learningRateSearch {
            try TrainingReport.render(search: search, to: URL(fileURLWithPath: plot))
            FileHandle.standardError.write(Data("swift-train: wrote \(plot)\n".utf8))
        }
        print(summary.jsonLine)
    }
}
