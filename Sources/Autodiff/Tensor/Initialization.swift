import Foundation
import NeuralNet

extension DTensor {
    /// A parameter of `shape` drawn uniformly from [-bound, bound) (PyTorch's Kaiming-uniform with bound 1/√fan-in).
    public static func uniformParameter(_ shape: [Int], bound: Float, random: inout CounterRandom) -> DTensor {
        DTensor(parameterShape: shape, values: (0..<shape.reduce(1, *)).map { _ in (random.nextUniform() * 2 - 1) * bound })
    }

    /// A parameter of `shape` holding `value` everywhere.
    public static func constantParameter(_ shape: [Int], _ value: Float) -> DTensor {
        DTensor(parameterShape: shape, values: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A parameter of `shape` drawn from N(0, 1) (PyTorch's `Embedding` initialisation), scaled by `deviation`.
    public static func normalParameter(_ shape: [Int], deviation: Float = 1, random: inout CounterRandom) -> DTensor {
        let count = shape.reduce(1, *)
        var values = [Float]()
        values.reserveCapacity(count)
        while values.count < count {
            // Box-Muller on two uniform draws in (0, 1].
            let u = 1 - random.nextUniform()
            let v = random.nextUniform()
            let radius = (-2 * _log(u)).squareRoot()
            values.append(radius * _cos(2 * .pi * v) * deviation)
            if values.count < count { values.append(radius * _sin(2 * .pi * v) * deviation) }
        }
        return DTensor(parameterShape: shape, values: values)
    }
}

@inline(__always) private func _log(_ x: Float) -> Float { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Float) -> Float { Foundation.cos(x) }
@inline(__always) private func _sin(_ x: Float) -> Float { Foundation.sin(x) }
