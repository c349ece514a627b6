import ArgumentParser

/// The `swift-train` command: data-parallel training with an Ignite-style engine, alone or under mpirun.
struct SwiftTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swift-train",
        abstract: "Data-parallel neural-network training over MPI with an Ignite-style engine.",
        discussion: """
            Run alone for a single-process (debug) job, or under mpirun for a cluster:
              swift-train                          train on the built-in data set, one process
              mpirun -n 4 swift-train              the same on 4 ranks (each rank a shard of every epoch)
              swift-train --simulate-ranks 4       4 ranks simulated in one process (for a debugger)
              mpirun -n 4 swift-train --checkpoint-dir ckpt --resume auto
                                                   resume from rank 0's newest valid checkpoint
            The last line rank 0 prints on standard output is a JSON summary; progress and logs go to
            standard error.
            """,
        version: "swift-train 0.3.0",
        subcommands: [
            TrainCommand.self, ElasticCommand.self, EvaluateCommand.self, PredictCommand.self, GenerateCommand.self, InspectCommand.self,
            ReportCommand.self, LearningRateFindCommand.self
        ],
        defaultSubcommand: TrainCommand.self)
}
