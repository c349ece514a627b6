import Cluster
import Crypto
import EngineCore
import Foundation
import NeuralNet
import Training

/// One rank's part of a training run: a recipe that maps the configuration to library pieces (data parallelism,
/// trainer, loader, evaluation, checkpoints, handlers), resumes, trains and returns the summary.
///
/// Every rank builds the same job from the same configuration. Construction does no communication, so a failure
/// there can be agreed on by all ranks (see `TrainingLauncher`) instead of leaving some of them in a collective.
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
    /// The trainer engine (its handlers hold what they need, never the job).
    public let trainer: Engine<SupervisedBatch, SupervisedOutput>
    /// Objects saved in every checkpoint, by name.
    public let checkpointObjects: [String: any Stateful]
    let trainLoader: DataLoader
    let plan: TaskPlan
    let record: JobRecord
    let learningRate: OptimizerLearningRate
    let clock = RunClock()
    let testEvaluation: TestEvaluation
    let checkpoints: RunCheckpoints?
    let scheduler: LearningRateScheduler?
    let parameterAverage: ExponentialMovingAverage?
    let agreedStop: AgreedStop
    private(set) var logger: JSONLinesLogger?

    /// Builds rank `communicator.rank`'s job. No collective is called.
    public init(configuration c: TrainingConfiguration, communicator: any Communicator) throws {
        configuration = c
        self.communicator = communicator
        try c.validate()
        // The one place the run's data-parallel mode is decided: trainer, loader and evaluation follow from it.
        let parallel = try DataParallel(
            communicator: communicator, mode: c.virtualShards.map { .virtualShards($0) } ?? .replicated(overlap: c.overlapCommunication))
        let notice = LoadingNotice("loading the data", isLeader: communicator.rank == 0)
        defer { notice.finish() }
        data = try PreparedData(c)
        let plan = TaskPlan(task: data.task, train: data.train, test: data.test, metrics: try c.testMetricNames(for: data))
        let model = try ModelFactory.makeModel(c.model, sampleShape: data.train.sampleShape, classes: plan.outputs, seed: c.seed)
        let optimizer = ModelFactory.makeOptimizer(c, model: model)
        (self.plan, self.model, self.optimizer) = (plan, model, optimizer)
        learningRate = OptimizerLearningRate(optimizer)
        let prepare = plan.batchPreparation(for: model)
        let recurrent = model as? any RecurrentStateModel
        let microBatching = c.microBatches.map { MicroBatching.count($0) } ?? .automatic
        let trainer =
            try recurrent.map {  // a recurrent language model: Ignite's TBPTT trainer, chunks of --tbptt steps
                try parallel.makeTruncatedBPTTTrainer(
                    model: $0, optimizer: optimizer, loss: plan.loss, chunkLength: c.tbptt, seed: c.seed, microBatching: microBatching)
            }
            ?? parallel.makeTrainer(
                model: model, optimizer: optimizer, loss: plan.loss, seed: c.seed, microBatching: microBatching, prepareBatch: prepare,
                outputTransform: \.output)
        self.trainer = trainer
        trainLoader = try parallel.makeLoader(data.train, batchSize: c.batchSize, seed: c.seed)
        let evaluator =
            recurrent != nil
            ? makeLanguageModelEvaluator(model: model)
            : makeSupervisedEvaluator(model: model, loss: plan.loss, prepareBatch: prepare, outputTransform: plan.evaluationOutput)
        let testBatch = data.task == .languageModel ? c.batchSize : max(c.batchSize, 256)
        let evaluation = try TestEvaluation(try parallel.makeEvaluation(of: evaluator, test: data.test, batchSize: testBatch), plan: plan)
        testEvaluation = evaluation
        record = JobRecord(configuration: c, worldSize: communicator.size, task: data.task)
        (record.classNames, record.layout, record.dataDigest) = (data.train.classNames, data.train.layout, data.digest)
        record.targetStandardization = (Double(plan.targetMean), Double(plan.targetScale))
        parameterAverage = try c.emaDecay.map { try ExponentialMovingAverage(arena: model.arena, momentum: 1 - $0) }
        testEvaluation.parameterAverage = parameterAverage
        let perEpoch = trainLoader.batchesPerPass
        scheduler =
            c.scheduler == .constant
            ? nil
            : LearningRateScheduler(
                target: learningRate,
                schedule: try c.scheduler.schedule(base: c.learningRate, perEpoch: perEpoch, iterations: perEpoch * c.epochs))
        var objects: [String: any Stateful] = [
            "trainer": trainer, "model": ModelState(model), "optimizer": OptimizerState(optimizer), "data": trainLoader, "job": record
        ]
        if let statistics = data.statistics { objects["normalization"] = NormalizationState(statistics) }
        objects["scheduler"] = scheduler
        objects["ema"] = parameterAverage
        let patience = c.earlyStoppingPatience
        let earlyStopping = try patience.map {
            try EarlyStopping(patience: $0, scoreFunction: { _ in evaluation.score(of: c.saveBest ?? "loss") }, trainer: trainer)
        }
        objects["early_stopping"] = earlyStopping
        checkpointObjects = objects
        checkpoints = try RunCheckpoints(c, objects: objects, arena: model.arena, isWriter: communicator.rank == 0)
        agreedStop = try AgreedStop(communicator: communicator, timeLimit: c.timeLimit)
        logger = nil
        for message in data.notes { note(message) }
        if let reason = data.taskReason { note("task: \(data.task.rawValue), since \(reason) (choose with --task)") }
        logger = try attachHandlers(parallel: parallel, earlyStopping: earlyStopping)
        testEvaluation.logger = logger
    }

    /// A line on standard error, from rank 0 only.
    func note(_ message: String) {
        guard communicator.rank == 0 else { return }
        FileHandle.standardError.write(Data("swift-train: \(message)\n".utf8))
    }

    /// Trains to the configured end (or `stopAfterIterations`) and returns the run's summary.
    public func run() throws -> TrainingSummary {
        if let iterations = configuration.learningRateSearch { return try searchLearningRate(iterations: iterations) }
        let state = trainer.state
        let resumed = state.maxEpochs != nil || state.maxIterations != nil
        if resumed, let length = state.epochLength, state.iteration >= length * configuration.epochs {
            note(
                "the checkpoint's run is already complete (\(state.iteration / Swift.max(length, 1)) epochs; "
                    + "--epochs \(configuration.epochs) asks for no more): nothing to train")
        } else {
            do { try trainer.run(trainLoader, maxEpochs: configuration.epochs) } catch {
                agreedStop.stopCatching()
                try? checkpoints?.latest.saver.waitForWrites()
                throw error
            }
        }
        agreedStop.stopCatching()
        if case .signal(let number)? = agreedStop.reason {
            // Preempted (Slurm's SIGTERM, Ctrl-C): every rank stopped at this iteration; rank 0 saves it.
            var saved: String?
            if let checkpoints {
                guard checkpoints.parametersAreFinite else { throw TrainingDiverged(iteration: state.iteration, loss: nil) }
                saved = try checkpoints.latest.save(iteration: state.iteration, epoch: state.epoch)?.path
                try checkpoints.latest.saver.waitForWrites()
            }
            throw StoppedBySignal(signal: number, iteration: state.iteration, checkpoint: saved)
        }
        if agreedStop.reason == .timeLimit, let checkpoints, checkpoints.parametersAreFinite {
            // The time limit ended the run between checkpoints: the summary's model is saved, so a resume continues it.
            try checkpoints.latest.save(iteration: state.iteration, epoch: state.epoch)
        }
        try checkpoints?.latest.saver.waitForWrites()
        if let error = state.error { throw error }
        var summary = TrainingSummary(
            epoch: state.epoch, iteration: state.iteration, worldSize: communicator.size, task: plan.task,
            metrics: try testEvaluation.metrics(at: state.iteration), trainSamplesPerSecond: clock.samplesPerSecond,
            parametersSHA256: Self.parametersSHA256(model), parameters: model.parameterCount, checkpoint: checkpoints?.latest.lastCheckpoint?.path)
        summary.tokensPerSample = plan.task == .languageModel ? configuration.context : 0
        return summary
    }

    /// SHA-256 of the parameters' bytes (little-endian Float32, arena order), as lowercase hex.
    public static func parametersSHA256(_ model: any Model) -> String {
        model.arena.parameterValues.withUnsafeBytes { SHA256.hash(data: $0) }.hexadecimal
    }
}
