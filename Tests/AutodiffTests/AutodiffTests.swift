import Autodiff
import Foundation
import NeuralNet
import Testing
import _Differentiation

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

/// The built-in small CNN, written as differentiable Swift.
struct SmallCNN: DifferentiableModel {
    var conv1: Conv2DLayer, conv2: Conv2DLayer, head: Dense

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        let h1 = maxPool2d(relu(conv1(x)), size: 2)
        let h2 = maxPool2d(relu(conv2(h1)), size: 2)
        return head(flatten(h2))
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
            var plus = x.values
            var minus = x.values
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
            ("add", { $0 + other }), ("subtract", { $0 - other }),
            ("add a bias", { $0 + DTensor(shape: [4], values: [0.5, -1, 2, 0.25]) }),
            ("scale per feature", { multiply($0, DTensor(shape: [4], values: [0.5, -1, 2, 0.25])) }), ("sum", { sum($0) }), ("mean", { mean($0) }),
            ("reshape", { reshape($0, to: [4, 3]) }),
            ("layerNorm", { layerNorm($0, gamma: DTensor(shape: [4], values: [1, 2, 0.5, -1]), beta: DTensor(shape: [4], values: [0, 1, 2, 3])) }),
            ("softmaxCrossEntropy", { softmaxCrossEntropy($0, labels: [0, 3, 1]) }),
            ("meanSquaredError", { meanSquaredError($0, other) }),
            ("dropout (evaluation: identity)", { dropout($0, probability: 0.5) })
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

    @Test("conv2d and maxPool2d derivatives match finite differences; a CNN written this way equals the built-in one")
    func convolution() throws {
        let x = DTensor(shape: [2, 2, 4, 4], values: Self.random(64, seed: 3))
        let weight = DTensor(shape: [3, 2, 3, 3], values: Self.random(54, seed: 4))
        let bias = DTensor(shape: [3], values: [0.1, -0.2, 0.3])
        for (name, f) in [
            ("conv2d", { (x: DTensor) in conv2d(x, weight: weight, bias: bias) }),
            ("maxPool2d", { (x: DTensor) in maxPool2d(x, size: 2) })
        ] as [(String, @differentiable(reverse) (DTensor) -> DTensor)] {
            let output = f(x)
            let weights = Self.random(output.count, seed: 5)
            let analytic = valueWithPullback(at: x, of: f).pullback(DTensor(shape: output.shape, values: weights)).values
            let numeric = Self.numeric(f, at: x, weights: weights)
            for index in numeric.indices {
                #expect(abs(Double(analytic[index]) - numeric[index]) <= 3e-2 * max(1, abs(numeric[index])), "\(name) \(index)")
            }
        }
        var random = CounterRandom(seed: 8, stream: 1)
        let cnn = SmallCNN(
            conv1: Conv2DLayer(channels: 1, filters: 8, random: &random),
            conv2: Conv2DLayer(channels: 8, filters: 16, random: &random),
            head: Dense(inputs: 16 * 2 * 2, outputs: 10, random: &random))
        let model = try AutodiffModel(cnn, inputShape: [1, 8, 8], outputShape: [10])
        let reference = try Sequential.smallConvolutional(channels: 1, height: 8, width: 8, outputs: 10, seed: 0)
        for (mine, theirs) in zip(model.arena.entries, reference.arena.entries) {
            #expect(mine.shape == theirs.shape)
            try reference.arena.setParameter(named: theirs.name, to: try model.arena.parameter(named: mine.name))
        }
        let input = Tensor(shape: [3, 1, 8, 8], values: Self.random(192, seed: 9))
        let context = LayerContext(training: true, randomKey: 0)
        let ours = try model.forward(input, context: context)
        let theirs = try reference.forward(input, context: context)
        #expect(zip(ours.values, theirs.values).allSatisfy { abs($0 - $1) < 1e-4 })
        let gradient = Tensor(shape: [3, 10], values: Self.random(30, seed: 10))
        try model.backward(gradient, accumulate: false, progress: nil)
        try reference.backward(gradient, accumulate: false, progress: nil)
        #expect(zip(model.arena.gradientValues, reference.arena.gradientValues).allSatisfy { abs($0 - $1) < 1e-3 })
    }

    @Test("a parameter passed straight to any operation gets its gradient in the arena (nothing is lost on the way)")
    func parametersThroughEveryOperation() throws {
        struct Direct: DifferentiableModel {
            var a: DTensor, b: DTensor
            @differentiable(reverse)
            func callAsFunction(_ x: DTensor) -> DTensor { multiply(x, relu(a)) + reshape(tanh(b), to: [1, 2]) }
        }
        let model = try AutodiffModel(
            Direct(
                a: DTensor(parameterShape: [1, 2], values: [0.5, -0.5]),
                b: DTensor(parameterShape: [2], values: [0.1, 0.2])),
            inputShape: [2], outputShape: [2])
        _ = try model.forward(Tensor(shape: [1, 2], values: [2, 3]), context: LayerContext(training: true, randomKey: 0))
        try model.backward(Tensor(shape: [1, 2], values: [1, 1]), accumulate: false, progress: nil)
        let expected: [Float] = [2, 0, 1 - Foundation.tanh(0.1) * Foundation.tanh(0.1), 1 - Foundation.tanh(0.2) * Foundation.tanh(0.2)]
        #expect(zip(model.arena.gradientValues, expected).allSatisfy { abs($0 - $1) < 1e-5 }, "\(model.arena.gradientValues)")
    }

    @Test("a bias added or a scale multiplied over rows gets the sum of the rows' gradients")
    func broadcasting() throws {
        let x = DTensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let bias = DTensor(shape: [3], values: [10, 20, 30])
        #expect((x + bias).values == [11, 22, 33, 14, 25, 36])
        let (_, pullback) = valueWithPullback(at: x, bias) { x, b in multiply(x + b, b) }
        let (dx, db) = pullback(DTensor(shape: [2, 3], values: [1, 1, 1, 1, 1, 1]))
        #expect(dx.values == [10, 20, 30, 10, 20, 30])
        // d/db Σ (x + b)·b = Σ over rows of (x + 2b)
        let expected: [Float] = [45, 87, 129]
        #expect(db.values == expected)
    }

    @Test("embedding gathers rows and scatters their gradients; dropout while training keeps its mask for backward")
    func embeddingAndDropout() throws {
        let table = DTensor(shape: [4, 2], values: [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(embedding([2, 0, 2], table: table).values == [4, 5, 0, 1, 4, 5])
        let (_, pullback) = valueWithPullback(at: table) { embedding([2, 0, 2], table: $0) }
        #expect(pullback(DTensor(shape: [3, 2], values: [1, 1, 1, 1, 1, 1])).values == [1, 1, 0, 0, 2, 2, 0, 0])
        struct Dropper: DifferentiableModel {
            var scale: DTensor
            @differentiable(reverse)
            func callAsFunction(_ x: DTensor) -> DTensor { dropout(multiply(x, scale), probability: 0.5) }
        }
        let model = try AutodiffModel(
            Dropper(scale: DTensor(parameterShape: [1, 8], values: Array(repeating: 1, count: 8))),
            inputShape: [8], outputShape: [8])
        let x = Tensor(shape: [1, 8], values: Array(repeating: 1, count: 8))
        let trained = try model.forward(x, context: LayerContext(training: true, randomKey: 42))
        #expect(Set(trained.values).isSubset(of: [0, 2]) && trained.values.contains(0) && trained.values.contains(2))
        #expect(try model.forward(x, context: LayerContext(training: true, randomKey: 42)) == trained, "masks follow the key")
        try model.backward(Tensor(shape: [1, 8], values: Array(repeating: 1, count: 8)), accumulate: false, progress: nil)
        #expect(model.arena.gradientValues == trained.values, "the gradient passes where the mask kept the value")
        #expect(try model(x).values == x.values, "evaluation is the identity")
    }

    @Test("a residual MLP written as differentiable Swift equals the built-in Sequential: outputs and arena gradients")
    func equalsBuiltIn() throws {
        var random = CounterRandom(seed: 5, stream: 1)
        let mlp = ResidualMLP(
            input: Dense(inputs: 6, outputs: 8, random: &random),
            blocks: [Dense(inputs: 8, outputs: 8, random: &random), Dense(inputs: 8, outputs: 8, random: &random)],
            head: Dense(inputs: 8, outputs: 3, random: &random))
        let model = try AutodiffModel(mlp, inputShape: [6], outputShape: [3])
        #expect(
            model.parameterNames == [
                "input.weight", "input.bias", "blocks.0.weight", "blocks.0.bias",
                "blocks.1.weight", "blocks.1.bias", "head.weight", "head.bias"
            ])
        let reference = try Sequential(
            [
                Linear(inputs: 6, outputs: 8), ReLU(), Residual([Linear(inputs: 8, outputs: 8), ReLU()]),
                Residual([Linear(inputs: 8, outputs: 8), ReLU()]), Linear(inputs: 8, outputs: 3)
            ],
            inputShape: [6], seed: 0)
        for (mine, theirs) in zip(model.arena.entries, reference.arena.entries) {
            try reference.arena.setParameter(named: theirs.name, to: try model.arena.parameter(named: mine.name))
        }
        let input = Tensor(shape: [4, 6], values: Self.random(24, seed: 7))
        let context = LayerContext(training: true, randomKey: 0)
        let output = try model.forward(input, context: context)
        let expected = try reference.forward(input, context: context)
        #expect(zip(output.values, expected.values).allSatisfy { abs($0 - $1) < 1e-5 })
        let gradient = Tensor(shape: [4, 3], values: Self.random(12, seed: 8))
        try model.backward(gradient, accumulate: false, progress: nil)
        try reference.backward(gradient, accumulate: false, progress: nil)
        #expect(
            zip(model.arena.gradientValues, reference.arena.gradientValues).allSatisfy { abs($0 - $1) < 1e-4 },
            "\(model.arena.gradientValues.prefix(6)) vs \(reference.arena.gradientValues.prefix(6))")
    }

    @Test("an optimizer step on the arena is what the differentiable model computes with next")
    func parametersLiveInTheArena() throws {
        var random = CounterRandom(seed: 2, stream: 1)
        let model = try AutodiffModel(
            ResidualMLP(
                input: Dense(inputs: 2, outputs: 3, random: &random), blocks: [],
                head: Dense(inputs: 3, outputs: 1, random: &random)),
            inputShape: [2], outputShape: [1])
        let x = Tensor(shape: [1, 2], values: [0.5, -0.5])
        let before = try model(x)
        try model.arena.setParameter(named: "head.bias", to: Tensor(shape: [1], values: [10]))
        let after = try model(x)
        #expect(after.values[0] > before.values[0] + 5, "the model reads its parameters from the arena")
    }
}
