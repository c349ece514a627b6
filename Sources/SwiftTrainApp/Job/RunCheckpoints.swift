import EngineCore
import Foundation
import NeuralNet
import Training

/// The run's checkpoints: every `--checkpoint-every` iterations (and the final iteration), else each epoch's end,
/// and with `--save-best` the best ones by a test metric; rank 0 writes them in the background. A checkpoint of
/// parameters that are no longer finite is never written.
final class RunCheckpoints {
    let latest: Checkpoint
    private let arena: ParameterArena

    /// The checkpoints of `objects` in the configured directory (nil without `--checkpoint-dir`).
    init?(
        _ configuration: TrainingConfiguration, objects: [String: any Stateful], arena: ParameterArena, isWriter: Bool
    ) throws {
        guard let directory = configuration.checkpointDirectory else { return nil }
        self.arena = arena
        let saver = try DiskSaver(
            directory: URL(fileURLWithPath: directory), createDirectory: true, requireEmpty: false, isWriter: isWriter, exclusive: true)
        // Rank 0 only copies the state and returns to its peers; the file is encoded and written meanwhile, so a
        // large checkpoint never keeps the others waiting in a collective (nor trips the collective deadline).
        saver.writesInBackground = true
        latest = try Checkpoint(toSave: objects, saver: saver, numberSaved: configuration.keep, isWriter: isWriter)
        if configuration.resume != .none { latest.adoptExistingFiles() }
    }

    /// Whether the parameters are all finite numbers (a checkpoint of anything else is refused).
    var parametersAreFinite: Bool { arena.parameterValues.allSatisfy(\.isFinite) }

    /// Saves `engine`'s iteration now; its time is left out of `clock`'s.
    func save(_ engine: Engine<SupervisedBatch, SupervisedOutput>, clock: RunClock) throws {
        // Never a checkpoint of parameters that are no longer numbers over one that holds a finite model.
        guard parametersAreFinite else { throw TrainingDiverged(iteration: engine.state.iteration, loss: nil) }
        _ = try clock.excluding { try latest.save(iteration: engine.state.iteration, epoch: engine.state.epoch) }
        try engine.fireEvent(.savedCheckpoint)
    }

    /// Saves on `trainer`'s schedule, and the best by `score` after each evaluation when `bestMetric` is set.
    func attach(
        to trainer: Engine<SupervisedBatch, SupervisedOutput>, every: Int?, keep: Int, bestMetric: String?, clock: RunClock,
        score: @escaping () -> Double
    ) throws {
        if let bestMetric {
            let best = try Checkpoint(
                toSave: latest.toSave, saver: latest.saver, filenamePrefix: "best", numberSaved: keep, scoreFunction: score,
                scoreName: bestMetric, isWriter: latest.isWriter)
            try trainer.on(.evaluationCompleted) { [self] engine in
                guard parametersAreFinite else { return }
                try best.save(iteration: engine.state.iteration, epoch: engine.state.epoch)
            }
        }
        guard let every else {
            try trainer.on(.epochCompleted) { [self] in try save($0, clock: clock) }
            return
        }
        try trainer.on(.iterationCompleted(every: every)) { [self] in try save($0, clock: clock) }
        // The final iteration of a run that reached its end is saved too when it is not a multiple of N.
        try trainer.on(.completed) { [self] engine in
            guard let length = engine.state.epochLength, let epochs = engine.state.maxEpochs,
                engine.state.iteration >= length * epochs, engine.state.iteration % every != 0
            else { return }
            try save(engine, clock: clock)
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
