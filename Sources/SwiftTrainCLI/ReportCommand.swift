import ArgumentParser
import Foundation
import SwiftTrainApp
import Training

/// `swift-train report`: loss and metric curves of a run's JSON-lines log, as SVG.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Draw a run's loss and metric curves (from --log) as an SVG file.")

    @Argument(help: "The JSON-lines log written with --log.")
    var log: String

    @Option(help: "The SVG file to write.")
    var output: String

    func run() throws {
        try TrainingReport.render(logAt: URL(fileURLWithPath: log), to: URL(fileURLWithPath: output))
        FileHandle.standardError.write(Data("swift-train: wrote \(output)\n".utf8))
    }
}
