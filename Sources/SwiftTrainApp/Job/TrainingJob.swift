import Cluster
import Crypto
import EngineCore
import Foundation
import NeuralNet
import Training

/// One rank's part of a training run: data, model, trainer, handlers, resume, training and the summary.
///
/// Every rank builds the same job from the same configuration. Construction does no communication, so a
/// failure there can be agreed on by all ranks (see `TrainingLauncher`) instead of leaving some of them
/// waiting in a collective.
public final class TrainingJob {
    /// The run's configuration.
    public let configuration: TrainingConfiguration
    /// The world this rank belongs to.
    public let communicator: any Communicator
    /// The training and test splits.
    public let data: PreparedData
    /// The model trained.
    public let model: any Model
    /// The optimizer.
    public let optimizer: any Optimizer
    /// The trainer engine.
    public let trainer: Engine<SupervisedBatch, SupervisedOutput>
    /// The evaluator engine, run on the test split after each epoch.
    public let evaluator: Engine<SupervisedBatch, SupervisedOutput>
    /// Objects saved in every checkpoint, by name.
    public internal(set) var checkpointObjects: [String: any Stateful] = [:]

    let trainLoader: DataLoader
    /// The run's data parallelism: replicas or virtual shards, decided once from the configuration.
    let dataParallel: DataParallel
    /// The test split's evaluation over the world, with the task's metrics.
    let evaluation: DataParallelEvaluation<SupervisedOutput>
    let record: JobRecord
    let learningRate: OptimizerLearningRate
    var checkpoint: Checkpoint?
    var scheduler: LearningRateScheduler?
    /// Stops the run when the test metric stops improving; saved in checkpoints, so a resumed run stops where the
    /// uninterrupted one would.
    var earlyStopping: EarlyStopping?
    /// The parameters' exponential moving average (`--ema`): the test metrics are computed with it.
    var parameterAverage: ExponentialMovingAverage?
    var logger: JSONLinesLogger?
    var tensorBoard: TensorBoardWriter?
    var trainingSeconds = 0.0
    var excludedSeconds = 0.0
    var samplesRun = 0
    var lastEvaluation: (iteration: Int, metrics: [String: Double])?
    /// Ends every rank at the same iteration on a stop signal or the time limit.
    var agreedStop: AgreedStop?
    /// The task's loss, batch preparation and metrics.
    let plan: TaskPlan

    /// Builds rank `communicator.rank`'s job. No collective is called.
    public init(configuration: TrainingConfiguration, communicator: any Communicator) throws {
        self.configuration = configuration
        self.communicator = communicator
        try configuration.validate()
        // The one place the run's data-parallel mode is decided: trainer, loader and evaluation follow from it.
        dataParallel = try DataParallel(
            communicator: communicator,
            mode: configuration.virtualShards.map { .virtualShards($0) } ?? .replicated(overlap: configuration.overlapCommunication))
        let notice = LoadingNotice("loading the data", isLeader: communicator.rank == 0)
        defer { notice.finish() }
        data = try PreparedData(configuration)
        try configuration.validate(features: data.train.featureCount, samples: data.train.count + data.test.count)
        if let count = configuration.virtualShards, count > data.train.count {
            // Every shard past the samples would train on padding: copies of the same samples, 65,536 passes for 300.
            throw ConfigurationError.invalid(
                option: "--virtual-shards", value: String(count),
                expected: "at most the \(data.train.count) training samples (each shard takes at least one)")
        }
        let metricNames = configuration.metrics ?? TestMetricCatalog.defaults(for: data.task)
        try TestMetricCatalog.validate(
            metricNames, task: data.task, classes: Swift.max(data.train.classCount, data.test.classCount),
            virtualShards: configuration.virtualShards != nil)
        if let metric = configuration.saveBest {
            // A metric the run does not compute would rank every checkpoint at -inf.
            let computed = ["loss"] + (data.task == .regression ? ["mse"] : []) + metricNames
            guard computed.contains(metric) else {
                throw ConfigurationError.invalid(
                    option: "--save-best", value: metric,
                    expected: "a metric of this \(data.task.rawValue) run: " + computed.joined(separator: ", ") + " (--metrics adds others)")
            }
        }
        guard data.train.count > 0 else {
            throw ConfigurationError.invalid(
                option: "--data", value: configuration.data.description,
                expected: "at least one training sample")
        }
        plan = TaskPlan(task: data.task, train: data.train, test: data.test, metrics: metricNames)
        model = try ModelFactory.makeModel(
            configuration.model, sampleShape: data.train.sampleShape,
            classes: plan.outputs, seed: configuration.seed)
        optimizer = ModelFactory.makeOptimizer(configuration, model: model)
        learningRate = OptimizerLearningRate(optimizer)
        let prepare = plan.batchPreparation(for: model)
        if let recurrent = model as? any RecurrentStateModel {
            // A recurrent language model: Ignite's TBPTT trainer, chunks of --tbptt steps.
            trainer = try dataParallel.makeTruncatedBPTTTrainer(
                model: recurrent, optimizer: optimizer, loss: plan.loss, chunkLength: configuration.tbptt, seed: configuration.seed)
        } else {
            trainer = try dataParallel.makeTrainer(
                model: model, optimizer: optimizer, loss: plan.loss, seed: configuration.seed, prepareBatch: prepare,
                outputTransform: \.output)
        }
        trainLoader = try dataParallel.makeLoader(data.train, batchSize: configuration.batchSize, seed: configuration.seed)
        evaluator =
            (model as? any RecurrentStateModel) != nil
            ? makeLanguageModelEvaluator(model: model)
            : makeSupervisedEvaluator(model: model, loss: plan.loss, prepareBatch: prepare, outputTransform: plan.evaluationOutput)
        evaluation = try dataParallel.makeEvaluation(
            of: evaluator, test: data.test,
            batchSize: data.task == .languageModel ? configuration.batchSize : max(configuration.batchSize, 256))
        record = JobRecord(configuration: configuration, worldSize: communicator.size, task: data.task)
        record.classNames = data.train.classNames
        record.layout = data.train.layout
        record.dataDigest = data.digest
        record.targetStandardization = (Double(plan.targetMean), Double(plan.targetScale))
        for message in data.notes { note(message) }
        if let reason = data.taskReason {
            note("task: \(data.task.rawValue), since \(reason) (choose with --task)")
        }
        try attachHandlers()
    }

    /// Whether this rank writes files and prints progress.
    var isLeader: Bool { communicator.rank == 0 }

    /// A line on standard error, from rank 0 only.
    func note(_ message: String) {
        guard isLeader else { return }
        FileHandle.standardError.write(Data("swift-train: \(message)\n".utf8))
    }

    /// Trains to the configured end (or `stopAfterIterations`) and returns the run's summary.
    public func run() throws -> TrainingSummary {
        if let iterations = configuration.learningRateSearch { return try searchLearningRate(iterations: iterations) }
        let engine = trainer
        let resumed = engine.state.maxEpochs != nil || engine.state.maxIterations != nil
        if resumed, let length = engine.state.epochLength, engine.state.iteration >= length * configuration.epochs {
            note(
                "the checkpoint's run is already complete (\(engine.state.iteration / Swift.max(length, 1)) epochs; "
                    + "--epochs \(configuration.epochs) asks for no more): nothing to train")
        } else {
            do { try engine.run(trainLoader, maxEpochs: configuration.epochs) } catch {
                agreedStop?.stopCatching()
                try? checkpoint?.saver.waitForWrites()
                throw error
            }
        }
        agreedStop?.stopCatching()
        if case .signal(let number)? = agreedStop?.reason {
            // Preempted (Slurm's SIGTERM, Ctrl-C): every rank stopped at this iteration; rank 0 saves it.
            var saved: String?
            if let checkpoint {
                guard model.arena.parameterValues.allSatisfy(\.isFinite) else {
                    throw TrainingDiverged(iteration: engine.state.iteration, loss: nil)
                }
                saved = try checkpoint.save(iteration: engine.state.iteration, epoch: engine.state.epoch)?.path
                try checkpoint.saver.waitForWrites()
            }
            throw StoppedBySignal(signal: number, iteration: engine.state.iteration, checkpoint: saved)
        }
        if agreedStop?.reason == .timeLimit, let checkpoint, model.arena.parameterValues.allSatisfy(\.isFinite) {
            // The time limit ended the run between checkpoints: the summary's model is saved, so a resume continues it.
            try checkpoint.save(iteration: engine.state.iteration, epoch: engine.state.epoch)
        }
        try checkpoint?.saver.waitForWrites()
        if let error = engine.state.error { throw error }
        let evaluation = try evaluationAtCurrentIteration()
        var summary = TrainingSummary(
            epoch: engine.state.epoch, iteration: engine.state.iteration, worldSize: communicator.size, task: plan.task,
            metrics: evaluation,
            trainSamplesPerSecond: trainingSeconds > 0 ? Double(samplesRun) / trainingSeconds : 0,
            parametersSHA256: Self.parametersSHA256(model), parameters: model.parameterCount,
            checkpoint: checkpoint?.lastCheckpoint?.path)
        summary.tokensPerSample = plan.task == .languageModel ? configuration.context : 0
        return summary
    }

    /// `--lr-find`: the learning-rate search on this run's trainer, model and data; nothing is trained or saved.
    func searchLearningRate(iterations: Int) throws -> TrainingSummary {
        let finder = try LearningRateFinder(end: 10, iterations: iterations)
        let result = try finder.run(
            trainer: trainer, data: trainLoader, optimizer: optimizer, restoring: [ModelState(model)],
            communicator: communicator
        ) { Double($0.loss) }
        var summary = TrainingSummary(
            epoch: 0, iteration: 0, worldSize: communicator.size, task: plan.task, metrics: [:],
            trainSamplesPerSecond: 0, parametersSHA256: Self.parametersSHA256(model),
            parameters: model.parameterCount, checkpoint: nil)
        summary.learningRateSearch = LearningRateSearchSummary(
            rates: result.learningRates, losses: result.losses, diverged: result.diverged,
            suggestion: try? result.suggestion())
        if let search = summary.learningRateSearch {
            logger?.logLearningRateSearch(rates: search.rates, losses: search.losses, suggestion: search.suggestion)
        }
        if summary.learningRateSearch?.suggestion == nil {
            note("the loss did not fall over at least 3 iterations of the search: no suggestion (start from a lower --lr)")
        }
        return summary
    }

    /// The test metrics of the current parameters (evaluating only if not done at this iteration).
    func evaluationAtCurrentIteration() throws -> [String: Double] {
        let iteration = trainer.state.iteration
        if let last = lastEvaluation, last.iteration == iteration { return last.metrics }
        if let parameterAverage { try parameterAverage.withAveragedParameters { try evaluation.run() } } else { try evaluation.run() }
        let metrics = plan.results(of: evaluator)
        lastEvaluation = (iteration, metrics)
        return metrics
    }

    /// SHA-256 of the parameters' bytes (little-endian Float32, arena order), as lowercase hex.
    public static func parametersSHA256(_ model: any Model) -> String {
        model.arena.parameterValues.withUnsafeBytes { SHA256.hash(data: $0) }.hexadecimal
    }
}

/// A run ended by a stop signal (a scheduler's SIGTERM, Ctrl-C): every rank finished the same iteration and rank 0
/// wrote a checkpoint of it; the process should end with 128 + the signal's number, as a killed process would.
public struct StoppedBySignal: Error, CustomStringConvertible {
    /// The signal's number.
    public let signal: Int32
    /// The iteration every rank completed.
    public let iteration: Int
    /// The checkpoint written (nil without --checkpoint-dir).
    public let checkpoint: String?
    /// Whether rank 0 already said it on standard error (under mpirun, before the ranks finalize together).
    public internal(set) var isReported = false

    public var description: String {
        let name = [SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGUSR1: "SIGUSR1"][signal] ?? "signal \(signal)"
        guard let checkpoint else {
            return "stopped by \(name) after iteration \(iteration); no checkpoint was written (no --checkpoint-dir)"
        }
        return "stopped by \(name) after iteration \(iteration); checkpoint \(checkpoint) written: continue with --resume auto"
    }
}
