import Autodiff
import NeuralNet
import Testing
import _Differentiation

/// Finite-difference checks of the registered derivatives: central differences accumulated in Double (float64)
/// over the operations' Float32 evaluations, against the pullback of a random weighting of the output.
enum GradientChecking {
    /// Values in [-1, 1) from a seeded stream, kept `margin` away from 0 (where relu and max have a kink).
    static func random(_ count: Int, seed: UInt64, margin: Float = 0) -> [Float] {
        var generator = CounterRandom(seed: seed, stream: 9)
        return (0..<count).map { _ in
            let value = generator.nextUniform() * 2 - 1
            return value + (value >= 0 ? margin : -margin)
        }
    }

    /// A tensor of `shape` with random values.
    static func tensor(_ shape: [Int], seed: UInt64, margin: Float = 0) -> DTensor {
        DTensor(shape: shape, values: random(shape.reduce(1, *), seed: seed, margin: margin))
    }

    /// Σ weights ⊙ f(inputs), in Double.
    static func weightedSum(_ f: ([DTensor]) -> DTensor, _ inputs: [DTensor], _ weights: [Float]) -> Double {
        zip(f(inputs).values, weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Checks every input's gradient of `f` against central differences with step `step`; records an issue per
    /// mismatching value, naming the operation, the input and the index.
    static func check(
        _ name: String, _ inputs: [DTensor], step: Float = 1e-2, tolerance: Double = 2e-2, seed: UInt64 = 77,
        _ f: @escaping @differentiable(reverse) ([DTensor]) -> DTensor
    ) {
        let output = f(inputs)
        let weights = random(output.count, seed: seed)
        let (_, pullback) = valueWithPullback(at: inputs, of: f)
        let analytic = pullback(DTensor(shape: output.shape, values: weights)).base
        #expect(analytic.count == inputs.count, "\(name): \(analytic.count) input gradients for \(inputs.count) inputs")
        var mismatches = 0
        for (position, input) in inputs.enumerated() where position < analytic.count {
            let gradient = analytic[position].values
            for index in 0..<input.count {
                var plus = inputs
                var minus = inputs
                var up = input.values
                var down = input.values
                up[index] += step
                down[index] -= step
                plus[position] = DTensor(shape: input.shape, values: up)
                minus[position] = DTensor(shape: input.shape, values: down)
                let numeric = (weightedSum(f, plus, weights) - weightedSum(f, minus, weights)) / (2 * Double(step))
                let value = gradient.isEmpty ? 0 : Double(gradient[index])
                if abs(value - numeric) > tolerance * max(1, abs(numeric)) {
                    mismatches += 1
                    if mismatches <= 5 {
                        Issue.record("\(name): input \(position) index \(index): analytic \(value), numeric \(numeric)")
                    }
                }
            }
        }
    }
}
