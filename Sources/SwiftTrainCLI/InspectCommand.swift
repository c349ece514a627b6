import ArgumentParser
import SwiftTrainApp
import Training

/// `swift-train inspect`: what a checkpoint holds.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's iteration, epoch, world size, parameters (names, shapes) and digest.")

    @Argument(help: "The checkpoint file.")
    var path: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let description = try CheckpointInspection(path: path)
        print(json ? description.jsonLine : description.text)
    }
}
