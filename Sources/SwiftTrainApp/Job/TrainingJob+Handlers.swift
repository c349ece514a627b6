import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

extension TrainingJob {
    /// Attaches everything the run needs to the trainer, in the order the handlers must run; each handler holds the
    /// pieces it uses, never the job. Returns the JSON-lines logger when there is one.
    func attachHandlers(parallel: DataParallel, earlyStopping: EarlyStopping?) throws -> JSONLinesLogger? {
        let c = configuration
        trainer.state.seed = c.seed
        trainer.state[StateKey<UInt64>("seed")] = c.seed
        trainer.stateDictUserKeys = ["seed"]
        trainer.registerEvents(.savedCheckpoint)
        // (The trainer came from `parallel` with its start-up broadcast and gradient averaging attached.)
        let loader = trainLoader
        let leader = communicator.rank == 0
        try trainer.on(.started) { _ in
            // A checkpoint of another world or batch size: the loader placed the run and says how.
            if leader, let moved = loader.continuationNote { FileHandle.standardError.write(Data("swift-train: \(moved)\n".utf8)) }
        }
        try clock.attach(to: trainer, worldSize: communicator.size)
        // Updated after each step, before anything evaluates or saves at the same iteration.
        try parameterAverage?.attach(to: trainer)
        try parallel.attachTrainingLoss(to: trainer)
        // A loss that is no longer finite ends the run with an error before anything is saved from it.
        try trainer.on(.iterationCompleted) { engine in
            guard let loss = engine.state.output?.loss, !loss.isFinite else { return }
            throw TrainingDiverged(iteration: engine.state.iteration, loss: loss)
        }
        if let maxNorm = c.clipGradientNorm { try GradientClipping(maxNorm: maxNorm).attach(to: trainer, arena: model.arena) }
        try testEvaluation.attach(to: trainer, every: c.evaluateEvery, clock: clock)
        try earlyStopping?.attach(to: trainer, event: .evaluationCompleted)
        // A time limit and the stop signals end every rank at the same iteration (rank 0's clock decides the limit).
        try agreedStop.attach(to: trainer)
        if let every = c.consistencyCheckEvery {
            let (arena, world) = (model.arena, communicator)
            try trainer.on(.iterationCompleted(every: every)) { engine in
                try ModelConsistency.verifyIdentical(arena, over: world, iteration: engine.state.iteration)
            }
        }
        try scheduler?.attach(to: trainer, event: c.scheduler.movesPerEpoch ? .epochStarted : .iterationStarted)
        let evaluation = testEvaluation
        try checkpoints?.attach(
            to: trainer, every: c.checkpointEvery, keep: c.keep, bestMetric: c.saveBest, clock: clock,
            score: { evaluation.score(of: c.saveBest ?? "loss") })
        let logger = try RunReporting.attach(
            to: trainer, configuration: c, communicator: communicator, learningRate: learningRate,
            batchesPerPass: trainLoader.batchesPerPass, clock: clock, arena: model.arena)
        if let stop = c.stopAfterIterations {
            try trainer.on(.iterationCompleted(once: stop)) { engine in
                if leader { FileHandle.standardError.write(Data("swift-train: stopping after iteration \(stop) as asked\n".utf8)) }
                engine.terminate()
            }
        }
        if let fault = c.injectedFault, fault.rank == communicator.rank {
            let rank = communicator.rank
            try trainer.on(.iterationCompleted(once: fault.iteration)) { _ in try fault.trigger(rank: rank) }
        }
        return logger
    }
}
