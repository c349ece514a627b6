// Your own process function, made data-parallel by one handler: run it alone or as `mpirun -n 2
// example-data-parallel-loop`. Each rank trains on its shard; `DataParallel` broadcasts rank 0's parameters
// and optimizer state at `.started` and averages gradients when the process function fires `.gradientsReady`.
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

let communicator: any Communicator =
    MPICommunicator.isLaunchedByMPI ? try MPICommunicator.initialize(reductionOrder: .fixedRankOrder) : LocalCommunicator()
var random = CounterRandom(seed: 7, stream: 1)
let (train, test) = GlyphDataset.generate(count: 800, using: &random).split(testFraction: 0.25, using: &random)

let model = try Sequential(
    [
        Flatten(), Linear(inputs: 256, outputs: 64), ReLU(), Dropout(probability: 0.1),
        Linear(inputs: 64, outputs: 10)
    ], inputShape: [1, 16, 16], seed: 1)
let optimizer = AdamW(arena: model.arena, learningRate: 0.002)
let loss = SoftmaxCrossEntropy()

// The process function: forward, loss, backward, then the event data parallelism listens to, then the step.
let trainer = Engine<SupervisedBatch, Float> { engine, batch in
    let key = CounterRandom.derive(UInt64(engine.state.iteration), UInt64(communicator.rank))
    let predictions = try model.forward(batch.inputs, context: LayerContext(training: true, randomKey: key))
    let (value, gradient) = try loss.valueAndGradient(predictions: predictions, targets: batch.targets)
    try model.backward(gradient, accumulate: false, progress: nil)
    try engine.fireEvent(.gradientsReady)
    optimizer.step()
    return value
}
try DataParallel(communicator: communicator).attach(to: trainer, arena: model.arena, optimizer: optimizer)
try Average(communicator: communicator).attach(to: trainer, name: "train_loss") { Double($0) }

let evaluator = makeSupervisedEvaluator(model: model, loss: loss)
try Accuracy(communicator: communicator).attach(to: evaluator, name: "accuracy", usage: .runWise) {
    ClassificationBatch(predictions: $0.predictions, targets: $0.targets)
}
try trainer.on(.epochCompleted) { engine in
    try evaluator.run(
        try DataLoader(
            dataset: test, batchSize: 100,
            sampler: DistributedSampler(
                count: test.count, worldSize: communicator.size, rank: communicator.rank, shuffle: false, tail: .uneven)))
    if communicator.rank == 0 {
        print(
            "epoch \(engine.state.epoch): train loss \(engine.state.metrics["train_loss"]!), "
                + "test accuracy \(evaluator.state.metrics["accuracy"]!) on \(communicator.size) rank(s)")
    }
}
let loader = try DataLoader(
    dataset: train, batchSize: 32 / communicator.size,
    sampler: DistributedSampler(
        count: train.count, worldSize: communicator.size, rank: communicator.rank, seed: 3))
try trainer.run(loader, maxEpochs: 4)
try ModelConsistency.verifyIdentical(model.arena, over: communicator, iteration: trainer.state.iteration)
if communicator.rank == 0 { print("ranks identical after \(trainer.state.iteration) iterations") }
(communicator as? MPICommunicator)?.finalize()
