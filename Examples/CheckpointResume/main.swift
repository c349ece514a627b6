// Checkpoints and resume with Ignite's `Checkpoint` and `DiskSaver`: a run saves every epoch and is stopped
// after epoch 2; a new process (here: new objects) loads the newest checkpoint and finishes epochs 3 and 4.
// The resumed parameters equal those of an uninterrupted 4-epoch run bit for bit.
//   swift run example-checkpoint-resume [DIRECTORY]
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
        toSave: ["trainer": trainer, "model": ModelState(model), "optimizer": OptimizerState(optimizer)],
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
    toLoad: ["trainer": trainer, "model": ModelState(model), "optimizer": OptimizerState(optimizer)],
    checkpoint: try CheckpointFile.read(file))
print("resuming from \(file.lastPathComponent) at epoch \(trainer.state.epoch), iteration \(trainer.state.iteration)")
try trainer.run(loader, maxEpochs: 4)
let identical = model.arena.parameterValues.map(\.bitPattern) == reference.arena.parameterValues.map(\.bitPattern)
print("resumed run equals the uninterrupted run bit for bit: \(identical)")
try? FileManager.default.removeItem(at: directory)
if !identical { exit(1) }
