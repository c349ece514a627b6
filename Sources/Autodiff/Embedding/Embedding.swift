import NeuralNet
import _Differentiation

/// Rows of `table` [vocabulary, width] picked by `indices`, laid out as `indexShape` (default: one dimension):
/// the result is `indexShape + [width]`, e.g. [batch, time, width] for [batch, time] token indices.
@differentiable(reverse,wrt: table)
public func embedding(_ indices: [Int], table: DTensor, indexShape: [Int]? = nil) -> DTensor {
    let shape = indexShape ?? [indices.count]
    ensure(table.rank == 2, "embedding: the table must be [vocabulary, width], not \(table.shape)")
    ensure(shape.reduce(1, *) == indices.count, "embedding: \(indices.count) indices do not fill shape \(shape)")
    let vocabulary = table.shape[0]
    let width = table.shape[1]
    return table.withPointer { t in
        DTensor.filled(shape + [width]) { out in
            for (row, index) in indices.enumerated() {
                ensure(index >= 0 && index < vocabulary, "embedding: index \(index) outside 0..<\(vocabulary)")
                (out.baseAddress! + row * width).update(from: t + index * width, count: width)
            }
        }
    }
}

/// The derivative of `embedding`: its value and pullback, registered for `_Differentiation`.
@derivative(of: embedding, wrt: table)
public func vjpEmbedding(_ indices: [Int], table: DTensor, indexShape: [Int]?) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let value = embedding(indices, table: table, indexShape: indexShape)
    return (
        value,
        { gradient in
            guard !gradient.isZeroTangent else { return .zero }
            let width = table.shape[1]
            var dTable = [Float](repeating: 0, count: table.count)
            gradient.withPointer { g in
                for (row, index) in indices.enumerated() { for c in 0..<width { dTable[index * width + c] += g[row * width + c] } }
            }
            return table.deliver(DTensor(shape: table.shape, values: dTable))
        }
    )
}

/// A learnt vector per token (PyTorch's `Embedding(vocabulary, width)`, initialised from N(0, 1)).
public struct Embedding: Differentiable {
    /// [vocabulary, width].
    public var table: DTensor

    /// A table of `vocabulary` vectors of `width` values.
    public init(vocabulary: Int, width: Int, random: inout CounterRandom) {
        ensure(vocabulary > 0 && width > 0, "Embedding needs a positive vocabulary and width")
        table = .normalParameter([vocabulary, width], random: &random)
    }

    /// The vectors of `indices` laid out as `shape` (e.g. [batch, time]) → `shape + [width]`.
    @differentiable(reverse)
    public func callAsFunction(_ indices: [Int], shape: [Int]) -> DTensor { embedding(indices, table: table, indexShape: shape) }

    /// The vectors of token indices stored as whole-number floats in `x` (a model's input), → `x.shape + [width]`.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor {
        embedding(x.integerValues, table: table, indexShape: x.shape)
    }
}
