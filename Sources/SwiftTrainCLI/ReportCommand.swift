import ArgumentParser
import Foundation
import SwiftTrainApp
import Training

/// `swift-train report`: loss and metric curves of one or several runs' JSON-lines logs, as SVG or PNG.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Draw runs' loss and metric curves (from --log) in one figure, SVG or PNG.")

    @Argument(help: "The JSON-lines logs written with --log (several runs are drawn together).")
    var logs: [String]

    @Option(help: "The figure to write: .svg, or .png (needs rsvg-convert).")
    var output: String

    func run() throws {
        guard !logs.isEmpty else { throw ValidationError("give at least one log") }
        try OutputProtection.refuse(output: output, option: "--output", overwriting: logs.map { ("log", $0) })
        let kind = URL(fileURLWithPath: output).pathExtension.lowercased()
        guard kind == "svg" || kind == "png" else {
            throw ValidationError("--output \(output): the figure is written as .svg or .png; name the file so")
        }
        let notes = try TrainingReport.render(logsAt: logs.map { URL(fileURLWithPath: $0) }, to: URL(fileURLWithPath: output))
        for note in notes { FileHandle.standardError.write(Data("swift-train: \(note)\n".utf8)) }
        FileHandle.standardError.write(Data("swift-train: wrote \(output)\n".utf8))
    }
}
