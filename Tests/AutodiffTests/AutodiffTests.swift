import _Differentiation
import Autodiff
import Foundation
import NeuralNet
import Testing

/// The residual MLP of the issue, written as a user would.
struct ResidualMLP: DifferentiableModel {
    var input: Dense, blocks: [Dense], head: Dense

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        var h = relu(input(x))
        for index in withoutDerivative(at: blocks.indices) { h = h + relu(blocks[index](h)) }
        return head(h)
    }
}

@Suite("Differentiable models: gradients by the compiler, parameters in the arena")
struct AutodiffTests {
    static func random(_ count: Int, seed: UInt64) -> [Float] {
        var generator = CounterRandom(seed: seed, stream: 9)
        return (0..<count).map { _ in generator.nextUniform() * 2 - 1 }
    }

    /// Central differences of Σ weights ⊙ f(x) with respect to x, in Double over Float evaluations.
    static func numeric(_ f: (DTensor) -> DTensor, at x: DTensor, weights: [Float]) -> [Double] {
        x.values.indices.map { index in
            var plus = x.values, minus = x.values
            plus[index] += 1e-2
            minus[index] -= 1e-2
            let up = zip(f(DTensor(shape: x.shape, values: plus)).values, weights).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            let down = zip(f(DTensor(shape: x.shape, values: minus)).values, weights).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            return (up - down) / 2e-2
        }
    }

    @Test("every operation's registered derivative matches finite differences", arguments: [UInt64(1), 2, 3])
    func operations(seed: UInt64) throws {
        let x = DTensor(shape: [3, 4], values: Self.random(12, seed: seed).map { $0 + ($0 >= 0 ? 0.1 : -0.1) })
        let other = DTensor(shape: [3, 4], values: Self.random(12, seed: seed + 10))
        let weight = DTensor(shape: [5, 4], values: Self.random(20, seed: seed + 20))
        let bias = DTensor(shape: [5], values: Self.random(5, seed: seed + 30))
        let cases: [(String, @differentiable(reverse) (DTensor) -> DTensor)] = [
            ("relu", { relu($0) }), ("tanh", { tanh($0) }), ("sigmoid", { sigmoid($0) }),
            ("dense", { dense($0, weight: weight, bias: bias) }), ("multiply", { multiply($0, other) }),
            ("add", { $0 + other }), ("subtract", { $0 - other }), ("sum", { sum($0) }), ("mean", { mean($0) }),
            ("reshape", { reshape($0, to: [4, 3]) }),
        ]
        for (name, f) in cases {
            let output = f(x)
            let weights = Self.random(output.count, seed: seed + 40)
            let (_, pullback) = valueWithPullback(at: x, of: f)
            let analytic = pullback(DTensor(shape: output.shape, values: weights)).values
            let numeric = Self.numeric(f, at: x, weights: weights)
            for index in numeric.indices {
                #expect(abs(Double(analytic[index]) - numeric[index]) <= 2e-2 * max(1, abs(numeric[index])), "\(name) \(index)")
            }
        }
    }

    @Test("a residual MLP written as differentiable Swift equals the built-in Sequential: outputs and arena gradients")
    func equalsBuiltIn() throws {
        var random = CounterRandom(seed: 5, stream: 1)
        let mlp = ResidualMLP(input: Dense(inputs: 6, outputs: 8, random: &random),
                              blocks: [Dense(inputs: 8, outputs: 8, random: &random), Dense(inputs: 8, outputs: 8, random: &random)],
                              head: Dense(inputs: 8, outputs: 3, random: &random))
        let model = try AutodiffModel(mlp, inputShape: [6], outputShape: [3])
        #expect(model.parameterNames == ["input.weight", "input.bias", "blocks.0.weight", "blocks.0.bias",
                                         "blocks.1.weight", "blocks.1.bias", "head.weight", "head.bias"])
        let reference = try Sequential([Linear(inputs: 6, outputs: 8), ReLU(), Residual([Linear(inputs: 8, outputs: 8), ReLU()]),
                                        Residual([Linear(inputs: 8, outputs: 8), ReLU()]), Linear(inputs: 8, outputs: 3)],
                                       inputShape: [6], seed: 0)
        for (mine, theirs) in zip(model.arena.entries, reference.arena.entries) {
            try reference.arena.setParameter(named: theirs.name, to: try model.arena.parameter(named: mine.name))
        }
        let input = Tensor(shape: [4, 6], values: Self.random(24, seed: 7))
        let context = LayerContext(training: true, randomKey: 0)
        let output = try model.forward(input, context: context), expected = try reference.forward(input, context: context)
        #expect(zip(output.values, expected.values).allSatisfy { abs($0 - $1) < 1e-5 })
        let gradient = Tensor(shape: [4, 3], values: Self.random(12, seed: 8))
        try model.backward(gradient, accumulate: false, progress: nil)
        try reference.backward(gradient, accumulate: false, progress: nil)
        #expect(zip(model.arena.gradientValues, reference.arena.gradientValues).allSatisfy { abs($0 - $1) < 1e-4 },
                "\(model.arena.gradientValues.prefix(6)) vs \(reference.arena.gradientValues.prefix(6))")
    }

    @Test("an optimizer step on the arena is what the differentiable model computes with next")
    func parametersLiveInTheArena() throws {
        var random = CounterRandom(seed: 2, stream: 1)
        let model = try AutodiffModel(ResidualMLP(input: Dense(inputs: 2, outputs: 3, random: &random), blocks: [],
                                                  head: Dense(inputs: 3, outputs: 1, random: &random)),
                                      inputShape: [2], outputShape: [1])
        let x = Tensor(shape: [1, 2], values: [0.5, -0.5])
        let before = try model(x)
        try model.arena.setParameter(named: "head.bias", to: Tensor(shape: [1], values: [10]))
        let after = try model(x)
        #expect(after.values[0] > before.values[0] + 5, "the model reads its parameters from the arena")
    }
}
