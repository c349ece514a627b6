// Checkpoints and resume with Ignite's `Checkpoint` and `DiskSaver`: a run saves every epoch and is stopped
// after epoch 2; a new process (here: new objects) loads the newest checkpoint and finishes epochs 3 and 4.
// The resumed parameters equal those of an uninterrupted 4-epoch run bit for bit. Then the same one-rank checkpoint
// goes on over 2 ranks: the data loader, saved with the run, places it in the same sample order on the new world.
//   swift run example-checkpoint-resume [DIRECTORY]
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

let directory = URL(
    fileURLWithPath: CommandLine.arguments.dropFirst().first
        ?? NSTemporaryDirectory() + "swift-train-example-\(ProcessInfo.processInfo.processIdentifier)")
var random = CounterRandom(seed: 3, stream: 1)
let data = GlyphDataset.generate(count: 400, using: &random)

/// A fresh model, optimizer, trainer and loader, as a new process would build them.
func makeRun() throws -> (Sequential, SGD, Engine<SupervisedBatch, SupervisedOutput>, DataLoader) {
    let model = try Sequential(
        [
            Flatten(), Linear(inputs: 256, outputs: 32), ReLU(), Dropout(probability: 0.2),
            Linear(inputs: 32, outputs: 10)
        ], inputShape: [1, 16, 16], seed: 5)
    let optimizer = SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9)
    let trainer = makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), seed: 5)
    let loader = try DataLoader(dataset: data, batchSize: 16, sampler: DistributedSampler(count: data.count, seed: 5))
    return (model, optimizer, trainer, loader)
}

// The uninterrupted reference.
let (reference, _, referenceTrainer, referenceLoader) = try makeRun()
try referenceTrainer.run(referenceLoader, maxEpochs: 4)

// The first run: saves at every epoch's end, stops after epoch 2.
do {
    let (model, optimizer, trainer, loader) = try makeRun()
    let checkpoint = try Checkpoint(
        toSave: ["trainer": trainer, "model": ModelState(model), "optimizer": OptimizerState(optimizer), "data": loader],
        saver: try DiskSaver(directory: directory, createDirectory: true), numberSaved: 2)
    try trainer.on(.epochCompleted) { engine in
        let file = try checkpoint.save(iteration: engine.state.iteration, epoch: engine.state.epoch)
        print("saved \(file?.lastPathComponent ?? "nothing")")
        if engine.state.epoch == 2 { engine.terminate() }
    }
    try trainer.run(loader, maxEpochs: 4)
}

// The resumed run: new objects, the newest valid checkpoint loaded into them, the same `run` call.
let (model, optimizer, trainer, loader) = try makeRun()
guard let file = Checkpoint.latestValid(in: directory).url else { fatalError("no checkpoint in \(directory.path)") }
try Checkpoint.loadObjects(
    toLoad: ["trainer": trainer, "model": ModelState(model), "optimizer": OptimizerState(optimizer), "data": loader],
    checkpoint: try CheckpointFile.read(file))
print("resuming from \(file.lastPathComponent) at epoch \(trainer.state.epoch), iteration \(trainer.state.iteration)")
try trainer.run(loader, maxEpochs: 4)
let identical = model.arena.parameterValues.map(\.bitPattern) == reference.arena.parameterValues.map(\.bitPattern)
print("resumed run equals the uninterrupted run bit for bit: \(identical)")

// The same checkpoint on 2 ranks (simulated here; under mpirun each process is one rank, with the same code), 16
// samples per rank: the engine asks the loader where the one-rank run continues on this world.
let checkpointTree = try CheckpointFile.read(file)
let continued = try SimulatedWorld(size: 2).run { world -> (iteration: Int, epochLength: Int, digest: UInt64) in
    let (model, optimizer, trainer, _) = try makeRun()
    let loader = try DataLoader(
        dataset: data, batchSize: 16, sampler: DistributedSampler(count: data.count, worldSize: 2, rank: world.rank, seed: 5))
    try DataParallel(communicator: world).attach(to: trainer, arena: model.arena, optimizer: optimizer)
    try Checkpoint.loadObjects(
        toLoad: ["trainer": trainer, "model": ModelState(model), "optimizer": OptimizerState(optimizer), "data": loader],
        checkpoint: checkpointTree)
    try trainer.run(loader, maxEpochs: 4)
    let digest = model.arena.parameterValues.withUnsafeBytes { ModelConsistency.digest($0) }
    return (trainer.state.iteration, trainer.state.epochLength ?? 0, digest)
}
print(
    "continued on 2 ranks: epochs 3 and 4 of \(continued[0].epochLength) iterations, ending at iteration \(continued[0].iteration); "
        + "ranks agree: \(continued[0].digest == continued[1].digest)")
try? FileManager.default.removeItem(at: directory)
if !identical || continued[0].digest != continued[1].digest { exit(1) }
