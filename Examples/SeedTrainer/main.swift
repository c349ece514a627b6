// The seed's trainer and evaluator (Ignite's concepts page, "engine" and "metrics"): a classifier trained on
// generated digit glyphs, evaluated on the training and validation splits after every epoch.
//   swift run example-seed-trainer [EPOCHS]
import EngineCore
import NeuralNet
import Training

let epochs = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 3

// Data: 1,000 16 x 16 glyphs, a seeded 80/20 split, and loaders (one process: world size 1, rank 0).
var random = CounterRandom(seed: 0, stream: 1)
let (train, validation) = GlyphDataset.generate(count: 1_000, using: &random).split(testFraction: 0.2, using: &random)
let trainLoader = try DataLoader(
    dataset: train, batchSize: 32,
    sampler: DistributedSampler(count: train.count, seed: 0, shuffle: true))
let validationLoader = try DataLoader(
    dataset: validation, batchSize: 256,
    sampler: DistributedSampler(count: validation.count, shuffle: false, tail: .uneven))

// Model, trainer and evaluator: the factories return engines that own everything they need.
let model = try Sequential(
    [Flatten(), Linear(inputs: 256, outputs: 128), ReLU(), Linear(inputs: 128, outputs: 10)],
    inputShape: [1, 16, 16], seed: 0)
let trainer = makeSupervisedTrainer(
    model: model, optimizer: SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9),
    loss: SoftmaxCrossEntropy())
let evaluator = makeSupervisedEvaluator(model: model, loss: SoftmaxCrossEntropy())
try Accuracy().attach(to: evaluator, name: "accuracy", usage: .runWise) {
    ClassificationBatch(predictions: $0.predictions, targets: $0.targets)
}
try Loss().attach(to: evaluator, name: "loss", usage: .runWise) { (Double($0.loss), $0.count) }

try trainer.on(.iterationCompleted(every: 10)) { engine in
    print("Epoch[\(engine.state.epoch)] Iteration[\(engine.state.iteration)] Loss: \(engine.state.output!.loss)")
}
try trainer.on(.epochCompleted) { trainer in
    for (title, loader) in [("Training", trainLoader), ("Validation", validationLoader)] {
        try evaluator.run(loader)
        let metrics = evaluator.state.metrics
        print("\(title) Results - Epoch: \(trainer.state.epoch) Avg accuracy: \(metrics["accuracy"]!) Avg loss: \(metrics["loss"]!)")
    }
}
try trainer.run(trainLoader, maxEpochs: epochs)
print("final validation accuracy \(evaluator.state.metrics["accuracy"]!)")
