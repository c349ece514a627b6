import Cluster
import EngineCore
import Foundation
import Training

/// Resume without a shared file system: rank 0 finds, reads and verifies the checkpoint, then broadcasts its bytes;
/// every rank decodes them once (`CheckpointFile.newestOnRoot`, `readOnRoot`).
enum CheckpointTransfer {
    /// The state of the checkpoint to resume from (nil: start from scratch), identical on every rank. A collective.
    static func fetch(_ configuration: TrainingConfiguration, communicator: any Communicator, note: (String) -> Void) throws -> StateDict? {
        switch configuration.resume {
        case .none: return nil
        case .path(let path):
            let state = try CheckpointFile.readOnRoot(URL(fileURLWithPath: path), communicator: communicator)
            note("resuming from \(path)")
            return state
        case .auto:
            let directory = URL(fileURLWithPath: configuration.checkpointDirectory ?? ".")
            let found = try CheckpointFile.newestOnRoot(in: directory, communicator: communicator) { url, error in
                note("warning: skipping checkpoint \(url.lastPathComponent): \(error)")
            }
            guard let found else {
                let exists = FileManager.default.fileExists(atPath: directory.path)
                note(
                    exists
                        ? "no valid checkpoint in \(directory.path); starting from scratch"
                        : "no checkpoint directory \(directory.path) yet; starting from scratch")
                return nil
            }
            note("resuming from \(found.url.path)")
            return found.state
        }
    }
}

extension TrainingJob {
    /// Restores every checkpointed object from a checkpoint's state (normalisation statistics excepted:
    /// they are recomputed from the same data). A checkpoint of another world size or batch size continues
    /// the same global sample order: the data loader, which owns the resume point, places the engine.
    func load(checkpoint tree: StateDict) throws {
        if case .dictionary(let job)? = tree["job"] {
            let saved = JobRecord(configuration: configuration, worldSize: communicator.size)
            try saved.loadStateDict(job)
            var current = configuration
            current.task = .fixed(data.task)
            var differences = current.definingDifferences(from: saved.configuration)
            if let savedDigest = saved.dataDigest, let digest = data.digest, savedDigest != digest {
                differences.append("the data \(configuration.data) changed since the checkpoint was written (its SHA-256 differs)")
            }
            guard differences.isEmpty else { throw ResumeMismatch(differences: differences) }
            if saved.configuration.virtualShards != configuration.virtualShards {
                func shards(_ count: Int?) -> String { count.map { "--virtual-shards \($0)" } ?? "no virtual shards" }
                note(
                    "the checkpoint was written with \(shards(saved.configuration.virtualShards)) and this run uses "
                        + "\(shards(configuration.virtualShards)): the same samples go on, on another numerical path")
            }
            if saved.configuration.microBatches != configuration.microBatches {
                func split(_ count: Int?) -> String { count.map { "--micro-batches \($0)" } ?? "the automatic micro-batches" }
                note(
                    "the checkpoint was written with \(split(saved.configuration.microBatches)) and this run uses "
                        + "\(split(configuration.microBatches)): the same samples go on, on another numerical path")
            }
        }
        var objects = checkpointObjects
        objects["normalization"] = nil
        objects["job"] = nil
        // Checkpoints written before the loader saved its state resume on the same world only.
        if tree["data"] == nil { objects["data"] = nil }
        // A checkpoint of a run without early stopping (or written before it was saved) starts its count afresh.
        if tree["early_stopping"] == nil { objects["early_stopping"] = nil }
        let restartsAverage = tree["ema"] == nil && parameterAverage != nil
        if restartsAverage { objects["ema"] = nil }
        do {
            try Checkpoint.loadObjects(toLoad: objects, checkpoint: tree)
        } catch {
            throw CheckpointLoadError(underlying: error)
        }
        if restartsAverage {
            parameterAverage?.restart()
            note("the checkpoint holds no parameter average: --ema starts one from its parameters")
        }
        let engine = trainer
        let savedLength = engine.state.epochLength ?? trainLoader.batchesPerPass
        // A checkpoint (checksum valid, values crafted or corrupted) whose epoch length no data set of this size can
        // have would overflow the run's arithmetic: refused here, with its value.
        guard savedLength >= 1, savedLength <= Swift.max(trainLoader.sampler.count, 1),
            !savedLength.multipliedReportingOverflow(by: configuration.epochs + 1).overflow
        else {
            throw CheckpointLoadError(
                underlying: StateDictError.invalidValue(
                    key: "trainer.epoch_length", reason: "\(savedLength) batches per epoch is impossible for \(trainLoader.sampler.count) samples"))
        }
        // The loader places the run at its first `run` (`DataLoader.continuation(of:)`); `continuationNote` says how.
        if optimizer.learningRate != configuration.learningRate && scheduler == nil {
            self.note("learning rate: \(optimizer.learningRate) in the checkpoint, \(configuration.learningRate) from --lr from now on")
            optimizer.learningRate = configuration.learningRate
        }
    }
}

/// A checkpoint of another run: its data, split, model, task or seed differ from this one's.
struct ResumeMismatch: Error, CustomStringConvertible {
    let differences: [String]
    var description: String {
        "the checkpoint belongs to another run: " + differences.joined(separator: "; ")
            + " (what defines a run must match to resume; start a new --checkpoint-dir instead)"
    }
}

extension TrainingConfiguration {
    /// Options that define a run: a resume must keep them.
    static let definingOptions: [CodingKeys] = [
        .data, .labelColumn, .testFraction, .testData, .task, .model, .seed, .normalize, .builtinSamples, .optimizer
    ]

    /// Each defining option whose value differs from `saved`'s, as "--seed is 0 here, 1 in the checkpoint".
    func definingDifferences(from saved: TrainingConfiguration) -> [String] {
        let mine = Dictionary(options.map { ($0.key, $0.text) }, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(saved.options.map { ($0.key, $0.text) }, uniquingKeysWith: { a, _ in a })
        return Self.definingOptions.map(\.rawValue).compactMap { key in
            guard mine[key] != theirs[key] else { return nil }
            return "--\(key) is \(mine[key] ?? "not set") here, \(theirs[key] ?? "not set") in the checkpoint"
        }
    }
}

/// A checkpoint that does not fit this run's objects.
struct CheckpointLoadError: Error, CustomStringConvertible {
    let underlying: any Error
    var description: String { "the checkpoint does not match this run: \(underlying)" }
}
