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

// One value decides it: the trainer, the loader and the evaluation below all follow from this mode.
let parallel = try DataParallel(communicator: communicator, mode: .virtualShards(8))
let model = try Sequential(
    [
        Flatten(), Linear(inputs: 256, outputs: 64), ReLU(), Dropout(probability: 0.2),
        Linear(inputs: 64, outputs: 10)
    ], inputShape: [1, 16, 16], seed: 1)
let optimizer = SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9)
let trainer = try parallel.makeTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), seed: 3)
try trainer.on(.epochCompleted) { engine in
    // The output's loss is the global batch's mean, the same on every rank and every world size.
    if communicator.rank == 0 { print("epoch \(engine.state.epoch): last batch loss \(engine.state.output!.loss)") }
}
try trainer.run(try parallel.makeLoader(train, batchSize: 8, seed: 3), maxEpochs: 3)

// Each shard of the test split is evaluated on its own and the sums added in the shards' tree: the same bits too.
let evaluation = try parallel.makeEvaluation(of: makeSupervisedEvaluator(model: model), test: test, batchSize: 100)
try evaluation.attach(Accuracy(), name: "accuracy") { ClassificationBatch(predictions: $0.predictions, targets: $0.targets) }
let metrics = try evaluation.run()
let digest = model.arena.parameterValues.withUnsafeBytes { ModelConsistency.digest($0) }
if communicator.rank == 0 {
    print("test accuracy \(metrics["accuracy"]!) on \(communicator.size) rank(s)")
    print("parameter digest \(String(digest, radix: 16))")
}
(communicator as? MPICommunicator)?.finalize()
