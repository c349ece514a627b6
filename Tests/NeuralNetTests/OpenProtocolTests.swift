import Foundation
import NeuralNet
import Testing

/// A per-feature `x · scale + shift`, written as a user would: safe tensors only.
final class FeatureAffine: TensorLayer {
    private var width = 0
    func configure(inputShape: [Int]) throws -> [Int] {
        width = inputShape.reduce(1, *)
        return inputShape
    }
    var parameterShapes: [(suffix: String, shape: [Int])] { [("scale", [width]), ("shift", [width])] }
    func forward(_ input: Tensor, parameters: [Tensor], context: LayerContext) -> Tensor {
        Tensor(
            shape: input.shape,
            values: input.values.indices.map {
                input.values[$0] * parameters[0].values[$0 % width] + parameters[1].values[$0 % width]
            })
    }
    func backward(input: Tensor, output: Tensor, outputGradient: Tensor, parameters: [Tensor]) -> LayerGradients {
        var scale = [Float](repeating: 0, count: width)
        var shift = [Float](repeating: 0, count: width)
        var inputGradient = outputGradient.values
        for index in inputGradient.indices {
            let feature = index % width
            let g = outputGradient.values[index]
            scale[feature] += g * input.values[index]
            shift[feature] += g
            inputGradient[index] = g * parameters[0].values[feature]
        }
        return LayerGradients(
            input: Tensor(shape: input.shape, values: inputGradient),
            parameters: [Tensor(shape: [width], values: scale), Tensor(shape: [width], values: shift)])
    }
}

/// A layer that conforms to neither runnable protocol.
final class Shapeless: Layer {
    func configure(inputShape: [Int]) throws -> [Int] { inputShape }
}

@Suite("Open protocols: your own layers, blocks, models and losses")
struct OpenProtocolTests {
    @Test("a Residual block computes x + body(x), its gradients match a float64 reference", arguments: [UInt64(1), 2, 3])
    func residual(seed: UInt64) throws {
        let linear = Reference.linear(inputs: 4, outputs: 4, batch: 3)
        let check = GradientCheck(makeLayer: { Residual([Linear(inputs: 4, outputs: 4), Tanh()]) }, inputShape: [4], batch: 3) { x, p in
            zip(x, linear(x, p)).map { $0 + tanh($1) }
        }
        #expect(try check.maximumRelativeError(seed: seed) < GradientCheck.tolerance)
    }

    @Test("a TensorLayer of the user's own runs inside Sequential and Residual with exact gradients", arguments: [UInt64(4), 5])
    func tensorLayer(seed: UInt64) throws {
        let check = GradientCheck(makeLayer: { Residual([FeatureAffine()]) }, inputShape: [5], batch: 2) { x, p in
            x.indices.map { x[$0] + x[$0] * p[$0 % 5] + p[5 + $0 % 5] }
        }
        #expect(try check.maximumRelativeError(seed: seed) < GradientCheck.tolerance)
        let model = try Sequential([FeatureAffine(), Linear(inputs: 5, outputs: 2)], inputShape: [5], seed: seed)
        #expect(model.arena.entries.map(\.name) == ["0.scale", "0.shift", "1.weight", "1.bias"])
        #expect(
            try model.arena.parameter(named: "0.scale") == Tensor(shape: [5], repeating: 0),
            "the default initialisation of a 1-D parameter is zeros")
    }

    @Test("nested blocks name their parameters by path; a layer of neither kind is a typed error")
    func naming() throws {
        let model = try Sequential(
            [
                Linear(inputs: 3, outputs: 4), Residual([Linear(inputs: 4, outputs: 4), ReLU()]),
                Linear(inputs: 4, outputs: 2)
            ], inputShape: [3], seed: 0)
        #expect(model.arena.entries.map(\.name) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "2.weight", "2.bias"])
        #expect(throws: LayerError.unsupportedLayer("Shapeless")) { try Sequential([Shapeless()], inputShape: [2], seed: 0) }
        #expect(throws: LayerError.self) { try Sequential([Residual([Linear(inputs: 3, outputs: 2)])], inputShape: [3], seed: 0) }
    }

    /// Central differences of a loss, in float64 through Float inputs.
    static func numericGradient(_ loss: any LossFunction, _ predictions: [Float], _ targets: Tensor, shape: [Int]) throws -> [Double] {
        try predictions.indices.map { index in
            var plus = predictions
            var minus = predictions
            plus[index] += 1e-3
            minus[index] -= 1e-3
            let up = try loss.value(predictions: Tensor(shape: shape, values: plus), targets: targets)
            let down = try loss.value(predictions: Tensor(shape: shape, values: minus), targets: targets)
            return (Double(up) - Double(down)) / 2e-3
        }
    }

    @Test("BCE with logits, MAE and Huber: values as PyTorch defines them and gradients by finite differences")
    func losses() throws {
        var random = CounterRandom(seed: 9, stream: 1)
        let shape = [4, 3]
        let predictions = (0..<12).map { _ in random.nextUniform() * 4 - 2 }
        let probabilities = Tensor(shape: shape, values: (0..<12).map { _ in random.nextUniform() })
        let values = Tensor(shape: shape, values: (0..<12).map { _ in random.nextUniform() * 4 - 2 })
        let cases: [(any LossFunction, Tensor, (Double, Double) -> Double)] = [
            (BinaryCrossEntropyWithLogits(), probabilities, { z, t in -(t * log(1 / (1 + exp(-z))) + (1 - t) * log(1 - 1 / (1 + exp(-z)))) }),
            (MeanAbsoluteError(), values, { p, t in abs(p - t) }),
            (HuberLoss(delta: 0.5), values, { p, t in abs(p - t) <= 0.5 ? 0.5 * (p - t) * (p - t) : 0.5 * (abs(p - t) - 0.25) }),
            (MeanSquaredError(), values, { p, t in (p - t) * (p - t) })
        ]
        for (loss, targets, term) in cases {
            let (value, gradient) = try loss.valueAndGradient(predictions: Tensor(shape: shape, values: predictions), targets: targets)
            let expected = zip(predictions, targets.values).reduce(0.0) { $0 + term(Double($1.0), Double($1.1)) } / 12
            #expect(abs(Double(value) - expected) < 1e-5, "\(type(of: loss))")
            let numeric = try Self.numericGradient(loss, predictions, targets, shape: shape)
            for index in numeric.indices {
                #expect(abs(Double(gradient.values[index]) - numeric[index]) < 2e-3, "\(type(of: loss)) value \(index)")
            }
        }
        #expect(throws: LossError.shapeMismatch(loss: "MeanSquaredError", predictions: [4, 3], targets: [5])) {
            try MeanSquaredError().valueAndGradient(
                predictions: Tensor(shape: shape, values: predictions),
                targets: Tensor(shape: [5], repeating: 0))
        }
    }

    @Test("backward before forward and a gradient of the wrong shape are typed errors")
    func modelErrors() throws {
        let model = try Sequential.multilayerPerceptron(inputs: 2, hidden: [3], outputs: 2, seed: 0)
        #expect(throws: ModelError.backwardBeforeForward) {
            try model.backward(Tensor(shape: [1, 2], repeating: 0), accumulate: false, progress: nil)
        }
        _ = try model(Tensor(shape: [4, 2], repeating: 1))
        #expect(throws: ModelError.badOutputGradient(expected: [4, 2], found: [2, 2])) {
            try model.backward(Tensor(shape: [2, 2], repeating: 0), accumulate: false, progress: nil)
        }
        #expect(throws: ModelError.badInput(expected: [2], found: [0, 2])) { try model(Tensor(shape: [0, 2], values: [])) }
    }

    @Test("the arena's safe accessors read and write named parameters and gradients, refusing wrong names and shapes")
    func arenaAccess() throws {
        let arena = ParameterArena(layout: [("w", [2, 2]), ("b", [2])])
        try arena.setParameter(named: "b", to: Tensor(shape: [2], values: [1, 2]))
        #expect(try arena.parameter(named: "b").values == [1, 2] && arena.parameterValues == [0, 0, 0, 0, 1, 2])
        try arena.setGradient(named: "w", to: Tensor(shape: [2, 2], values: [1, 1, 1, 1]))
        try arena.setGradient(named: "w", to: Tensor(shape: [2, 2], values: [1, 2, 3, 4]), accumulate: true)
        #expect(try arena.gradient(named: "w").values == [2, 3, 4, 5])
        #expect(throws: ParameterError.unexpected(name: "c")) { try arena.parameter(named: "c") }
        #expect(throws: ParameterError.shapeMismatch(name: "b", expected: [2], found: [3])) {
            try arena.setParameter(named: "b", to: Tensor(shape: [3], repeating: 0))
        }
    }
}
