import Autodiff
import EngineCore
import NeuralNet
import Training
// A model written as differentiable Swift: the compiler derives its backward pass (`import _Differentiation`),
// `AutodiffModel` puts its parameters in the flat arena, and it trains with the same engine, optimizer, metrics
// and data parallelism as a built-in model.
//   swift run example-differentiable-model [EPOCHS]
import _Differentiation

/// Two dense layers with a residual block between them.
struct ResidualMLP: DifferentiableModel {
    var input: Dense, block: Dense, head: Dense

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        let h = relu(input(x))
        return head(h + relu(block(h)))
    }
}

let epochs = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 3
var random = CounterRandom(seed: 0, stream: 1)
let (train, test) = GlyphDataset.generate(count: 1_000, using: &random).split(testFraction: 0.2, using: &random)
var initialisation = CounterRandom(seed: 1, stream: 2)
let model = try AutodiffModel(
    ResidualMLP(
        input: Dense(inputs: 256, outputs: 64, random: &initialisation),
        block: Dense(inputs: 64, outputs: 64, random: &initialisation),
        head: Dense(inputs: 64, outputs: 10, random: &initialisation)),
    inputShape: [256], outputShape: [10])
print("parameters:", model.parameterNames.joined(separator: " "))
let flatten: (SupervisedBatch) -> (inputs: Tensor, targets: Tensor) = { ($0.inputs.reshaped([$0.count, 256]), $0.targets) }
let trainer = makeSupervisedTrainer(
    model: model, optimizer: SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9),
    loss: SoftmaxCrossEntropy(), prepareBatch: flatten, outputTransform: \.output)
let evaluator = makeSupervisedEvaluator(model: model, loss: SoftmaxCrossEntropy(), prepareBatch: flatten, outputTransform: \.output)
try Accuracy().attach(to: evaluator, name: "accuracy", usage: .runWise) {
    ClassificationBatch(predictions: $0.predictions, targets: $0.targets)
}
let testLoader = try DataLoader(dataset: test, batchSize: 200, sampler: DistributedSampler(count: test.count, shuffle: false, tail: .uneven))
try trainer.on(.epochCompleted) { engine in
    try evaluator.run(testLoader)
    print("epoch \(engine.state.epoch): test accuracy \(evaluator.state.metrics["accuracy"]!)")
}
try trainer.run(
    try DataLoader(dataset: train, batchSize: 32, sampler: DistributedSampler(count: train.count, seed: 0)),
    maxEpochs: epochs)
