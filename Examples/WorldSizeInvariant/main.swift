// The same bits on any number of ranks: run it alone, as `mpirun -n 2` or as `mpirun -n 4` and it prints the same
// parameter digest. Every global batch is 8 virtual shards of 8 samples; each rank computes its shards one by one
// (dropout keyed by the shard), and the shards' gradients are summed in one fixed binary tree whatever the world.
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

let communicator: any Communicator = MPICommunicator.isLaunchedByMPI ? try MPICommunicator.initialize() : LocalCommunicator()
var random = CounterRandom(seed: 7, stream: 1)
let (train, test) = GlyphDataset.generate(count: 800, using: &random).split(testFraction: 0.25, using: &random)

let shards = try VirtualShards(count: 8, worldSize: communicator.size, rank: communicator.rank)
let model = try Sequential(
    [
        Flatten(), Linear(inputs: 256, outputs: 64), ReLU(), Dropout(probability: 0.2),
        Linear(inputs: 64, outputs: 10)
    ], inputShape: [1, 16, 16], seed: 1)
let optimizer = SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9)
let trainer = makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), virtualShards: shards, seed: 3)
try DataParallel(communicator: communicator).attach(to: trainer, arena: model.arena, optimizer: optimizer)
try trainer.on(.epochCompleted) { engine in
    // The output's loss is the global batch's mean, the same on every rank and every world size.
    if communicator.rank == 0 { print("epoch \(engine.state.epoch): last batch loss \(engine.state.output!.loss)") }
}
try trainer.run(try DataLoader(dataset: train, microBatchSize: 8, shards: shards, seed: 3), maxEpochs: 3)

let evaluator = makeSupervisedEvaluator(model: model)
try Accuracy(communicator: communicator).attach(to: evaluator, name: "accuracy", usage: .runWise) {
    ClassificationBatch(predictions: $0.predictions, targets: $0.targets)
}
try evaluator.run(
    try DataLoader(
        dataset: test, batchSize: 100,
        sampler: DistributedSampler(
            count: test.count, worldSize: communicator.size, rank: communicator.rank, shuffle: false, tail: .uneven)))
let digest = model.arena.parameterValues.withUnsafeBytes { ModelConsistency.digest($0) }
if communicator.rank == 0 {
    print("test accuracy \(evaluator.state.metrics["accuracy"]!) on \(communicator.size) rank(s)")
    print("parameter digest \(String(digest, radix: 16))")
}
(communicator as? MPICommunicator)?.finalize()
