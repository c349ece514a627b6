import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

extension Event {
    /// Fired by the job after each evaluation on the test split (every epoch, and every `--eval-every` iterations).
    public static let evaluationCompleted = Event("EVALUATION_COMPLETED")
}

extension TrainingJob {
    /// Seconds on a monotonic clock.
    static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Attaches everything a run needs to the trainer engine, in the order the handlers must run.
    func attachHandlers() throws {
        let engine = trainer
        engine.state.seed = configuration.seed
        engine.state[StateKey<UInt64>("seed")] = configuration.seed
        engine.stateDictUserKeys = ["seed"]
        engine.registerEvents(.savedCheckpoint)
        engine.registerEvents(.evaluationCompleted, counter: .iteration)

        // (The trainer came from `dataParallel` with its start-up broadcast and gradient averaging attached.)
        var runStart = 0.0
        try engine.on(.started) { [unowned self] _ in
            // A checkpoint of another world or batch size: the loader placed the run and says how.
            if let moved = trainLoader.continuationNote { note(moved) }
            runStart = Self.now
            excludedSeconds = 0
            samplesRun = 0
        }
        try engine.on(.iterationCompleted) { [unowned self] engine in
            samplesRun += engine.state.output!.count * communicator.size
        }

        if let decay = configuration.emaDecay {
            // Updated after each step, before anything evaluates or saves at the same iteration.
            let average = try ExponentialMovingAverage(arena: model.arena, momentum: 1 - decay)
            try average.attach(to: engine)
            parameterAverage = average
        }
        try attachMetrics(to: engine)
        // A loss that is no longer finite ends the run with an error before anything is saved from it.
        try engine.on(.iterationCompleted) { engine in
            guard let loss = engine.state.output?.loss, !loss.isFinite else { return }
            throw TrainingDiverged(iteration: engine.state.iteration, loss: loss)
        }
        if let maxNorm = configuration.clipGradientNorm {
            try GradientClipping(maxNorm: maxNorm).attach(to: engine, arena: model.arena)
        }
        let evaluate: (Engine<SupervisedBatch, SupervisedOutput>) throws -> Void = { [unowned self] engine in
            let start = Self.now
            let fresh = lastEvaluation?.iteration != engine.state.iteration
            for (name, value) in try evaluationAtCurrentIteration() { engine.state.metrics[name] = value }
            excludedSeconds += Self.now - start
            if fresh { try engine.fireEvent(.evaluationCompleted) }
        }
        try engine.on(.epochCompleted, evaluate)
        if let every = configuration.evaluateEvery {
            try engine.on(.iterationCompleted(every: every)) { [unowned self] engine in
                try evaluate(engine)
                logger?.log(event: "evaluation", state: engine.state, metrics: engine.state.metrics)
            }
        }
        if let patience = configuration.earlyStoppingPatience {
            let stopping = try EarlyStopping(patience: patience, scoreFunction: { [unowned self] _ in bestScore }, trainer: engine)
            try stopping.attach(to: engine, event: .evaluationCompleted)
            earlyStopping = stopping
        }
        // A time limit and the stop signals end every rank at the same iteration (rank 0's clock decides the limit).
        let stop = try AgreedStop(communicator: communicator, timeLimit: configuration.timeLimit)
        try stop.attach(to: engine)
        agreedStop = stop
        if let every = configuration.consistencyCheckEvery {
            try engine.on(.iterationCompleted(every: every)) { [unowned self] engine in
                try ModelConsistency.verifyIdentical(model.arena, over: communicator, iteration: engine.state.iteration)
            }
        }
        try attachScheduler(to: engine)
        try attachCheckpoint(to: engine)
        try attachReporting(to: engine)

        try engine.on(.completed) { [unowned self] _ in
            trainingSeconds = Self.now - runStart - excludedSeconds
        }
        if let stop = configuration.stopAfterIterations {
            try engine.on(.iterationCompleted(once: stop)) { [unowned self] engine in
                note("stopping after iteration \(stop) as asked")
                engine.terminate()
            }
        }
        if let fault = configuration.injectedFault, fault.rank == communicator.rank {
            try engine.on(.iterationCompleted(once: fault.iteration)) { [unowned self] _ in
                try fault.trigger(rank: communicator.rank)
            }
        }
    }

    /// Saves checkpoints on rank 0 every `checkpointEvery` iterations, or at each epoch's end.
    func attachCheckpoint(to engine: Engine<SupervisedBatch, SupervisedOutput>) throws {
        checkpointObjects = [
            "trainer": engine, "model": ModelState(model), "optimizer": OptimizerState(optimizer),
            "data": trainLoader, "job": record
        ]
        if let statistics = data.statistics { checkpointObjects["normalization"] = NormalizationState(statistics) }
        if let scheduler { checkpointObjects["scheduler"] = scheduler }
        if let earlyStopping { checkpointObjects["early_stopping"] = earlyStopping }
        if let parameterAverage { checkpointObjects["ema"] = parameterAverage }
        guard let directory = configuration.checkpointDirectory else { return }
        let saver = try DiskSaver(
            directory: URL(fileURLWithPath: directory), createDirectory: true,
            requireEmpty: false, isWriter: isLeader, exclusive: true)
        // Rank 0 only copies the state and returns to its peers; the file is encoded and written meanwhile, so a
        // large checkpoint never keeps the others waiting in a collective (nor trips the collective deadline).
        saver.writesInBackground = true
        let checkpoint = try Checkpoint(
            toSave: checkpointObjects, saver: saver, numberSaved: configuration.keep,
            isWriter: isLeader)
        if configuration.resume != .none { checkpoint.adoptExistingFiles() }
        if let metric = configuration.saveBest {
            let best = try Checkpoint(
                toSave: checkpointObjects, saver: saver, filenamePrefix: "best", numberSaved: configuration.keep,
                scoreFunction: { [unowned self] in bestScore }, scoreName: metric, isWriter: isLeader)
            try engine.on(.evaluationCompleted) { [unowned self] engine in
                guard model.arena.parameterValues.allSatisfy(\.isFinite) else { return }
                try best.save(iteration: engine.state.iteration, epoch: engine.state.epoch)
            }
        }
        self.checkpoint = checkpoint
        let save: (Engine<SupervisedBatch, SupervisedOutput>) throws -> Void = { [unowned self] engine in
            let start = Self.now
            // Never a checkpoint of parameters that are no longer numbers over one that holds a finite model.
            guard model.arena.parameterValues.allSatisfy(\.isFinite) else {
                throw TrainingDiverged(iteration: engine.state.iteration, loss: nil)
            }
            _ = try checkpoint.save(iteration: engine.state.iteration, epoch: engine.state.epoch)
            excludedSeconds += Self.now - start
            try engine.fireEvent(.savedCheckpoint)
        }
        if let every = configuration.checkpointEvery {
            try engine.on(.iterationCompleted(every: every), save)
            // The final iteration of a run that reached its end is saved too when it is not a multiple of N.
            try engine.on(.completed) { engine in
                guard let length = engine.state.epochLength, let epochs = engine.state.maxEpochs,
                    engine.state.iteration >= length * epochs, engine.state.iteration % every != 0
                else { return }
                try save(engine)
            }
        } else {
            try engine.on(.epochCompleted, save)
        }
    }
}

/// The training loss became NaN or infinite: the run stops instead of training on, and saving, garbage.
struct TrainingDiverged: Error, CustomStringConvertible {
    let iteration: Int
    /// The loss that is not finite; nil when the parameters themselves are not.
    let loss: Float?
    var description: String {
        guard let loss else {
            return "the parameters are no longer finite numbers at iteration \(iteration), so no checkpoint is written; "
                + "lower --lr, or check the data for extreme values"
        }
        return
            "the training loss became \(loss.isNaN ? "NaN" : "\(loss)") at iteration \(iteration); lower --lr, or check the data for extreme values"
    }
}

extension TrainingJob {
    /// The score `--save-best` and `--early-stopping` follow (higher is better): the chosen test metric, negated
    /// for the losses and errors; the test loss when none was chosen.
    var bestScore: Double {
        let metric = configuration.saveBest ?? "loss"
        let value = lastEvaluation?.metrics["test_\(metric)"] ?? .nan
        let score = TestMetricCatalog.isLoss(metric) ? -value : value
        return score.isFinite ? score : -.infinity
    }
}
