// Your own layer and your own loss: regress the value of a handwritten digit (0-9, as a number) from its
// 8 x 8 pixels in a CSV file, with a layer written as a `TensorLayer` and a log-cosh loss written as a
// `LossFunction`, inside a `Sequential` with a `Residual` block.
//   swift run example-custom-regression [PATH_TO_digits.csv] [EPOCHS]
import EngineCore
import Foundation
import NeuralNet
import Training

/// y = x · scale + shift per feature: a learned affine rescaling, written with safe tensors.
final class FeatureAffine: TensorLayer {
    private var width = 0

    func configure(inputShape: [Int]) throws -> [Int] {
        width = inputShape.reduce(1, *)
        return inputShape
    }

    var parameterShapes: [(suffix: String, shape: [Int])] { [("scale", [width]), ("shift", [width])] }

    func initialParameters(using random: inout CounterRandom) -> [Tensor] {
        [Tensor(shape: [width], repeating: 1), Tensor(shape: [width], repeating: 0)]
    }

    func forward(_ input: Tensor, parameters: [Tensor], context: LayerContext) -> Tensor {
        let (scale, shift) = (parameters[0].values, parameters[1].values)
        return Tensor(
            shape: input.shape,
            values: input.values.enumerated().map { index, x in
                x * scale[index % width] + shift[index % width]
            })
    }

    func backward(input: Tensor, output: Tensor, outputGradient: Tensor, parameters: [Tensor]) -> LayerGradients {
        var scaleGradient = [Float](repeating: 0, count: width)
        var shiftGradient = [Float](repeating: 0, count: width)
        var inputGradient = outputGradient.values
        for index in inputGradient.indices {
            let feature = index % width
            let g = outputGradient.values[index]
            scaleGradient[feature] += g * input.values[index]
            shiftGradient[feature] += g
            inputGradient[index] = g * parameters[0].values[feature]
        }
        return LayerGradients(
            input: Tensor(shape: input.shape, values: inputGradient),
            parameters: [
                Tensor(shape: [width], values: scaleGradient),
                Tensor(shape: [width], values: shiftGradient)
            ])
    }
}

/// The mean of log(cosh(prediction − target)): quadratic near the target, linear far from it.
struct LogCoshLoss: LossFunction {
    func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        guard predictions.count == targets.count else {
            throw LossError.shapeMismatch(loss: "LogCosh", predictions: predictions.shape, targets: targets.shape)
        }
        let n = Float(predictions.count)
        var total: Float = 0
        let gradient = zip(predictions.values, targets.values).map { p, t -> Float in
            let d = p - t
            total += abs(d) + log1p(exp(-2 * abs(d))) - log(2)
            return tanh(d) / n
        }
        return (total / n, Tensor(shape: predictions.shape, values: gradient))
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
let path = arguments.first ?? "../shared/data/digits.csv"
let epochs = arguments.dropFirst().first.flatMap { Int($0) } ?? 30
let table = try CSVDataset.load(path: path, labelColumn: .named("label"))
// Regression targets: the label's text read as a number.
var random = CounterRandom(seed: 0, stream: 1)
let (train, test) = table.split(testFraction: 0.2, using: &random)
let classValues = table.classNames.map { Float($0)! }
func prepare(_ batch: SupervisedBatch) -> (inputs: Tensor, targets: Tensor) {
    (batch.inputs.map { $0 / 16 }, Tensor(shape: [batch.count, 1], values: batch.targets.values.map { classValues[Int($0)] }))
}

let model = try Sequential(
    [
        FeatureAffine(), Linear(inputs: 64, outputs: 64), ReLU(),
        Residual([Linear(inputs: 64, outputs: 64), ReLU()]), Linear(inputs: 64, outputs: 1)
    ],
    inputShape: [64], seed: 0)
print("parameters:", model.arena.entries.map(\.name).joined(separator: " "))
let trainer = makeSupervisedTrainer(
    model: model, optimizer: Adam(arena: model.arena, learningRate: 0.003),
    loss: LogCoshLoss(), prepareBatch: prepare, outputTransform: \.output)
let evaluator = makeSupervisedEvaluator(
    model: model, loss: MeanSquaredError(), prepareBatch: prepare,
    outputTransform: \.output)
try MeanAbsoluteErrorMetric().attach(to: evaluator, name: "mae", usage: .runWise) {
    RegressionBatch(predictions: $0.predictions, targets: $0.targets)
}
try R2Score().attach(to: evaluator, name: "r2", usage: .runWise) {
    RegressionBatch(predictions: $0.predictions, targets: $0.targets)
}
let trainLoader = try DataLoader(dataset: train, batchSize: 32, sampler: DistributedSampler(count: train.count, seed: 0))
let testLoader = try DataLoader(
    dataset: test, batchSize: 256,
    sampler: DistributedSampler(count: test.count, shuffle: false, tail: .uneven))
try trainer.on(.epochCompleted(every: 10)) { engine in
    try evaluator.run(testLoader)
    print("epoch \(engine.state.epoch): test MAE \(evaluator.state.metrics["mae"]!) R² \(evaluator.state.metrics["r2"]!)")
}
try trainer.run(trainLoader, maxEpochs: epochs)
try evaluator.run(testLoader)
print("final test_mae \(evaluator.state.metrics["mae"]!) test_r2 \(evaluator.state.metrics["r2"]!)")
