import EngineCore
import Foundation
import Training

extension TrainingJob {
    /// Train loss per epoch on the trainer; the task's test metrics over the whole test split on the evaluation.
    func attachMetrics(to engine: Engine<SupervisedBatch, SupervisedOutput>) throws {
        try dataParallel.attachTrainingLoss(to: engine)
        try plan.attachMetrics(to: evaluation)
    }

    /// The configured learning-rate schedule, per iteration (or per epoch for step decay).
    func attachScheduler(to engine: Engine<SupervisedBatch, SupervisedOutput>) throws {
        guard configuration.scheduler != .constant else { return }
        let perEpoch = trainLoader.batchesPerPass
        let specification = configuration.scheduler
        let scheduler = LearningRateScheduler(
            target: learningRate,
            schedule: try specification.schedule(
                base: configuration.learningRate, perEpoch: perEpoch, iterations: perEpoch * configuration.epochs))
        try scheduler.attach(to: engine, event: specification.movesPerEpoch ? .epochStarted : .iterationStarted)
        self.scheduler = scheduler
    }

    /// The JSON-lines log and the progress bar, on rank 0.
    func attachReporting(to engine: Engine<SupervisedBatch, SupervisedOutput>) throws {
        if let path = configuration.logPath {
            let rate = learningRate
            let logger = try JSONLinesLogger(
                path: path, worldSize: communicator.size, isWriter: isLeader,
                learningRate: { rate.learningRate })
            logger.logConfiguration(configuration.options.map { ($0.key, $0.text) })
            try logger.attach(to: engine, every: Swift.max(1, trainLoader.batchesPerPass / 10)) { ["loss": Double($0.loss)] }
            self.logger = logger
        }
        if let directory = configuration.tensorBoardDirectory {
            try attachTensorBoard(to: engine, directory: directory)
        }
        if let path = configuration.tracePath {
            // Every rank records and sends its spans to rank 0 at the same iteration (a collective).
            try TraceRecorder(steps: 10, skip: 5).attach(to: engine, communicator: communicator, writingTo: path)
        }
        if configuration.progress && isLeader {
            var bar = ProgressBar()
            // Under mpirun rank 0's standard error is a pipe to mpirun; on a terminal the bar still draws on it.
            if ClusterEnvironment.isLaunchedByMPI, isatty(STDERR_FILENO) == 0, let terminal = FileHandle(forWritingAtPath: "/dev/tty") {
                bar = ProgressBar(isTerminal: true) { terminal.write(Data($0.utf8)) }
            }
            try bar.attach(to: engine) { Double($0.loss) }
        }
    }

    /// Scalars for TensorBoard on rank 0: the training loss and learning rate per logged iteration, every test
    /// metric per evaluation, the epoch's training loss and throughput; each epoch, every parameter's and gradient's
    /// norm and histogram.
    func attachTensorBoard(to engine: Engine<SupervisedBatch, SupervisedOutput>, directory: String) throws {
        let board = try TensorBoardWriter(directory: URL(fileURLWithPath: directory), isWriter: isLeader)
        let rate = learningRate
        try engine.on(.iterationCompleted(every: Swift.max(1, trainLoader.batchesPerPass / 10))) { engine in
            guard let output = engine.state.output else { return }
            board.addScalar("train/loss", Double(output.loss), step: engine.state.iteration)
            board.addScalar("train/learning_rate", rate.learningRate, step: engine.state.iteration)
        }
        try engine.on(.evaluationCompleted) { engine in
            for (name, value) in engine.state.metrics.sorted(by: { $0.key < $1.key }) where name.hasPrefix("test_") {
                board.addScalar("test/" + name.dropFirst(5), value, step: engine.state.iteration)
            }
        }
        var epochStart = Self.now
        var samplesAtStart = 0
        try engine.on(.epochStarted) { [unowned self] _ in
            epochStart = Self.now
            samplesAtStart = samplesRun
        }
        try engine.on(.epochCompleted) { [unowned self] engine in
            if let loss = engine.state.metrics["train_loss"] { board.addScalar("train/epoch_loss", loss, step: engine.state.iteration) }
            let seconds = Self.now - epochStart
            if seconds > 0 {
                board.addScalar("train/samples_per_s", Double(samplesRun - samplesAtStart) / seconds, step: engine.state.iteration)
            }
            board.flush()
        }
        // Each parameter's norm and histogram, and its gradient's, at the end of each epoch (on the iteration axis).
        try board.attachParameterSummaries(to: engine, arena: model.arena, event: .epochCompleted) { $0.iteration }
        try engine.on(.completed) { _ in board.flush() }
        tensorBoard = board
    }
}
