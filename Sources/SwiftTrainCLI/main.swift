import ArgumentParser
import Foundation
import SwiftTrainApp
import Training

// Parses the command line, runs the command, and turns every error into one line on standard error:
// exit 2 for usage errors, 1 for anything else. Under mpirun only rank 0 prints it.
// `swift-train --help` shows the training options (training is the default command) and lists the others.
let rootArguments = Array(CommandLine.arguments.dropFirst())
if rootArguments == ["--help"] || rootArguments == ["-h"] {
    print(
        """
        swift-train: \(SwiftTrain.configuration.abstract)

        Commands: train (the default), elastic, evaluate, predict, generate, inspect, report, lr-find; `swift-train COMMAND --help` for each.

        """)
    print(TrainCommand.helpMessage(for: TrainCommand.self))
    exit(0)
}
do {
    var command = try SwiftTrain.parseAsRoot(try ConfigurationFile.expand(Array(CommandLine.arguments.dropFirst())))
    try command.run()
} catch let error as CleanExit {
    SwiftTrain.exit(withError: error)
} catch let stopped as StoppedBySignal {
    // Every rank stopped at the same iteration; rank 0 says where and what was saved.
    if ClusterEnvironment.rank == 0 && !stopped.isReported { FileHandle.standardError.write(Data("swift-train: \(stopped)\n".utf8)) }
    exit(128 + stopped.signal)
} catch let failure as AgreedFailure {
    // Every rank failed at the same point; exactly one of them carries the message.
    if failure.shouldPrint { FileHandle.standardError.write(Data("swift-train: error: \(failure)\n".utf8)) }
    exit(1)
} catch {
    let code = SwiftTrain.exitCode(for: error)
    if code == .success { SwiftTrain.exit(withError: error) }
    let isUsage = code == .validationFailure || error is ValidationError || error is ConfigurationError
    let message = isUsage ? SwiftTrain.message(for: error) : String(describing: error)
    if ClusterEnvironment.rank == 0 {
        let hint = isUsage ? " (see swift-train --help)" : ""
        FileHandle.standardError.write(Data("swift-train: error: \(message)\(hint)\n".utf8))
    }
    exit(isUsage ? 2 : (code.rawValue == 0 ? 1 : (code == .failure ? 1 : code.rawValue)))
}
