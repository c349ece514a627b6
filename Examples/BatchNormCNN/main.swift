import Autodiff
import EngineCore
import NeuralNet
import Training
// A CNN with batch normalisation, written as differentiable Swift: strided convolution, BatchNorm (its running
// statistics are model buffers), average pooling. It trains in the library's engine, and a copy restored from its
// checkpoint evaluates exactly as the original (the running statistics travel in the checkpoint).
//   swift run example-batch-norm-cnn [EPOCHS]
import _Differentiation

struct BatchNormCNN: DifferentiableModel {
    var conv1: Conv2DLayer, norm1: BatchNorm, conv2: Conv2DLayer, norm2: BatchNorm, head: Dense

    init(random: inout CounterRandom) {
        conv1 = Conv2DLayer(channels: 1, filters: 16, kernel: 3, stride: 2, padding: 1, random: &random)  // 16x16 → 8x8
        norm1 = BatchNorm(features: 16)
        conv2 = Conv2DLayer(channels: 16, filters: 32, random: &random)
        norm2 = BatchNorm(features: 32)
        head = Dense(inputs: 32, outputs: 10, random: &random)
    }

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        let h = avgPool2d(relu(norm1(conv1(x))), size: 2)  // 8x8 → 4x4
        return head(globalAvgPool2d(relu(norm2(conv2(h)))))
    }
}

let epochs = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 3
var random = CounterRandom(seed: 0, stream: 1)
let (train, test) = GlyphDataset.generate(count: 1_000, using: &random).split(testFraction: 0.2, using: &random)
var initialisation = CounterRandom(seed: 1, stream: 2)
let model = try AutodiffModel(BatchNormCNN(random: &initialisation), inputShape: [1, 16, 16], outputShape: [10])
print("buffers:", model.arena.bufferEntries.map(\.name).joined(separator: " "))

let trainer = makeSupervisedTrainer(model: model, optimizer: Adam(arena: model.arena, learningRate: 3e-3), loss: SoftmaxCrossEntropy())
func accuracy(of model: any Model) throws -> Double {
    let evaluator = makeSupervisedEvaluator(model: model, loss: SoftmaxCrossEntropy())
    try Accuracy().attach(to: evaluator, name: "accuracy", usage: .runWise) {
        ClassificationBatch(predictions: $0.predictions, targets: $0.targets)
    }
    try evaluator.run(try DataLoader(dataset: test, batchSize: 100, sampler: DistributedSampler(count: test.count, shuffle: false, tail: .uneven)))
    return evaluator.state.metrics["accuracy"]!
}
try trainer.on(.epochCompleted) { engine in print("epoch \(engine.state.epoch): test accuracy \(try accuracy(of: model))") }
try trainer.run(try DataLoader(dataset: train, batchSize: 32, sampler: DistributedSampler(count: train.count, seed: 0)), maxEpochs: epochs)

// The checkpoint holds the parameters and the running statistics; a fresh model restored from it scores the same.
let checkpoint = CheckpointFile.encode(["model": .dictionary(ModelState(model).stateDict())])
var other = CounterRandom(seed: 7, stream: 2)
let restored = try AutodiffModel(BatchNormCNN(random: &other), inputShape: [1, 16, 16], outputShape: [10])
try Checkpoint.loadObjects(toLoad: ["model": ModelState(restored)], checkpoint: try CheckpointFile.decode(checkpoint, source: "memory"))
print("restored accuracy \(try accuracy(of: restored)) original \(try accuracy(of: model))")
