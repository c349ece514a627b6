import NeuralNet
import _Differentiation

/// Normalises each row (the last dimension) to zero mean and unit variance, then scales by `gamma` and shifts
/// by `beta` (PyTorch's LayerNorm over the last dimension, ε = 1e-5).
@differentiable(reverse)
public func layerNorm(_ x: DTensor, gamma: DTensor, beta: DTensor) -> DTensor {
    layerNormForward(x, gamma, beta).output
}

func layerNormForward(_ x: DTensor, _ gamma: DTensor, _ beta: DTensor) -> (output: DTensor, normalized: [Float], inverseDeviation: [Float]) {
    let width = x.shape.last ?? 1
    let rows = x.count / Swift.max(width, 1)
    ensure(gamma.count == width && beta.count == width, "layerNorm: input \(x.shape), gamma \(gamma.shape), beta \(beta.shape)")
    // Written whole by the kernel: not cleared first.
    var normalized = [Float](unsafeUninitializedCapacity: x.count) { _, count in count = x.count }
    var inverse = [Float](unsafeUninitializedCapacity: rows) { _, count in count = rows }
    var output = [Float](unsafeUninitializedCapacity: x.count) { _, count in count = x.count }
    let blocks = RowBlocks(rows: rows, width: width)
    x.withValues { v in
        gamma.withValues { g in
            beta.withValues { b in
                normalized.withUnsafeMutableBufferPointer { normalized in
                    inverse.withUnsafeMutableBufferPointer { inverse in
                        output.withUnsafeMutableBufferPointer { output in
                            let (normalized, inverse, output) = (normalized.baseAddress!, inverse.baseAddress!, output.baseAddress!)
                            // Rows are independent: blocks of rows on the compute threads.
                            BLAS.forEachInParallel(blocks.count) { _, block in
                                let range = blocks.range(block)
                                let offset = range.lowerBound * width
                                Kernels.layerNormRows(
                                    v.baseAddress! + offset, gamma: g.baseAddress!, beta: b.baseAddress!, normalized: normalized + offset,
                                    inverse: inverse + range.lowerBound,
                                    output: output + offset, rows: range.count, width: width)
                            }
                        }
                    }
                }
            }
        }
    }
    return (DTensor(shape: x.shape, values: output), normalized, inverse)
}

/// The derivative of `layerNorm`: its value and pullback, registered for `_Differentiation`.
@derivative(of: layerNorm)
public func vjpLayerNorm(_ x: DTensor, gamma: DTensor, beta: DTensor)
    -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor, DTensor))
{
    let (output, normalized, inverse) = layerNormForward(x, gamma, beta)
    let width = x.shape.last ?? 1
    let rows = x.count / Swift.max(width, 1)
    return (
        output,
        { gradient in
            let gradient = gradient.orZeros(x.shape)
            var dx = [Float](unsafeUninitializedCapacity: x.count) { _, count in count = x.count }  // written whole
            var dGamma = [Float](repeating: 0, count: width)
            var dBeta = [Float](repeating: 0, count: width)
            // Blocks of rows on the compute threads; each block's sums of the scale and shift gradients are added in
            // block order (the blocks depend on the shape alone, so the bits do not depend on the thread count).
            let blocks = RowBlocks(rows: rows, width: width)
            var partials = [Float](repeating: 0, count: 2 * blocks.count * width)
            gradient.withValues { dy in
                gamma.withValues { g in
                    dx.withUnsafeMutableBufferPointer { dx in
                        partials.withUnsafeMutableBufferPointer { partials in
                            let (dx, partials) = (dx.baseAddress!, partials.baseAddress!)
                            normalized.withUnsafeBufferPointer { normalized in
                                inverse.withUnsafeBufferPointer { inverse in
                                    let (normalized, inverse) = (normalized.baseAddress!, inverse.baseAddress!)
                                    BLAS.forEachInParallel(blocks.count) { _, block in
                                        let range = blocks.range(block)
                                        let offset = range.lowerBound * width
                                        Kernels.layerNormRowsBackward(
                                            dy.baseAddress! + offset, gamma: g.baseAddress!, normalized: normalized + offset,
                                            inverse: inverse + range.lowerBound,
                                            dx: dx + offset, dGamma: partials + 2 * block * width, dBeta: partials + (2 * block + 1) * width,
                                            rows: range.count, width: width)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for block in 0..<blocks.count {
                for c in 0..<width {
                    dGamma[c] += partials[2 * block * width + c]
                    dBeta[c] += partials[(2 * block + 1) * width + c]
                }
            }
            return (
                x.isConstant ? .zero : x.deliver(DTensor(shape: x.shape, values: dx)), gamma.deliver(DTensor(shape: gamma.shape, values: dGamma)),
                beta.deliver(DTensor(shape: beta.shape, values: dBeta))
            )
        }
    )
}

/// Layer normalisation over the last dimension with a learnt scale and shift (PyTorch's `LayerNorm(width)`).
public struct LayerNorm: Differentiable {
    /// [width], initially ones.
    public var gamma: DTensor
    /// [width], initially zeros.
    public var beta: DTensor

    /// A layer normalising `width` features.
    public init(width: Int) {
        ensure(width > 0, "LayerNorm needs a positive width")
        gamma = .constantParameter([width], 1)
        beta = .constantParameter([width], 0)
    }

    /// The normalised input, any rank with `width` last.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor { layerNorm(x, gamma: gamma, beta: beta) }
}

/// Rows cut into blocks of about 16 Ki values by the shape alone, for row-wise work on the compute threads.
struct RowBlocks {
    let rows: Int
    let size: Int
    let count: Int

    init(rows: Int, width: Int) {
        self.rows = rows
        size = Swift.max(1, (1 << 14) / Swift.max(1, width))
        count = (rows + size - 1) / size
    }

    func range(_ block: Int) -> Range<Int> { (block * size)..<Swift.min(rows, (block + 1) * size) }
}
