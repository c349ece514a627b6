import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

/// What a run shows and records on rank 0: the JSON-lines log, TensorBoard, the Chrome trace and the progress bar.
enum RunReporting {
    /// Attaches what `configuration` asks for to `trainer`; returns the JSON-lines logger when there is one.
    static func attach(
        to trainer: Engine<SupervisedBatch, SupervisedOutput>, configuration: TrainingConfiguration, communicator: any Communicator,
        learningRate: OptimizerLearningRate, batchesPerPass: Int, clock: RunClock, arena: ParameterArena
    ) throws -> JSONLinesLogger? {
        let isLeader = communicator.rank == 0
        let logEvery = Swift.max(1, batchesPerPass / 10)
        var logger: JSONLinesLogger?
        if let path = configuration.logPath {
            let log = try JSONLinesLogger(
                path: path, worldSize: communicator.size, isWriter: isLeader, learningRate: { learningRate.learningRate })
            log.logConfiguration(configuration.options.map { ($0.key, $0.text) })
            try log.attach(to: trainer, every: logEvery) { ["loss": Double($0.loss)] }
            logger = log
        }
        if let directory = configuration.tensorBoardDirectory {
            let board = try TensorBoardWriter(directory: URL(fileURLWithPath: directory), isWriter: isLeader)
            try attachTensorBoard(board, to: trainer, every: logEvery, learningRate: learningRate, clock: clock, arena: arena)
        }
        if let path = configuration.tracePath {
            // Every rank records and sends its spans to rank 0 at the same iteration (a collective).
            try TraceRecorder(steps: 10, skip: 5).attach(to: trainer, communicator: communicator, writingTo: path)
        }
        if configuration.progress && isLeader {
            var bar = ProgressBar()
            // Under mpirun rank 0's standard error is a pipe to mpirun; on a terminal the bar still draws on it.
            if ClusterEnvironment.isLaunchedByMPI, isatty(STDERR_FILENO) == 0, let terminal = FileHandle(forWritingAtPath: "/dev/tty") {
                bar = ProgressBar(isTerminal: true) { terminal.write(Data($0.utf8)) }
            }
            try bar.attach(to: trainer) { Double($0.loss) }
        }
        return logger
    }

    /// Scalars for TensorBoard: the training loss and learning rate every `every` iterations, every test metric per
    /// evaluation, the epoch's training loss and throughput; each epoch, every parameter's and gradient's norm and
    /// histogram.
    static func attachTensorBoard(
        _ board: TensorBoardWriter, to trainer: Engine<SupervisedBatch, SupervisedOutput>, every: Int,
        learningRate: OptimizerLearningRate, clock: RunClock, arena: ParameterArena
    ) throws {
        try trainer.on(.iterationCompleted(every: every)) { engine in
            guard let output = engine.state.output else { return }
            board.addScalar("train/loss", Double(output.loss), step: engine.state.iteration)
            board.addScalar("train/learning_rate", learningRate.learningRate, step: engine.state.iteration)
        }
        try trainer.on(.evaluationCompleted) { engine in
            for (name, value) in engine.state.metrics.sorted(by: { $0.key < $1.key }) where name.hasPrefix("test_") {
                board.addScalar("test/" + name.dropFirst(5), value, step: engine.state.iteration)
            }
        }
        var epochStart = RunClock.now
        var samplesAtStart = 0
        try trainer.on(.epochStarted) { _ in
            epochStart = RunClock.now
            samplesAtStart = clock.samples
        }
        try trainer.on(.epochCompleted) { engine in
            if let loss = engine.state.metrics["train_loss"] { board.addScalar("train/epoch_loss", loss, step: engine.state.iteration) }
            let seconds = RunClock.now - epochStart
            if seconds > 0 {
                board.addScalar("train/samples_per_s", Double(clock.samples - samplesAtStart) / seconds, step: engine.state.iteration)
            }
            board.flush()
        }
        // Each parameter's norm and histogram, and its gradient's, at the end of each epoch (on the iteration axis).
        try board.attachParameterSummaries(to: trainer, arena: arena, event: .epochCompleted) { $0.iteration }
        try trainer.on(.completed) { _ in board.flush() }
    }
}
