import Foundation
import _Differentiation
import NeuralNet

/// The layout of a fused multi-head self-attention over packed projections [batch, time, 3·width].
struct SelfAttentionGeometry {
    let batch: Int, time: Int, width: Int, heads: Int
    var depth: Int { width / heads }
    var scale: Float { 1 / Float(depth).squareRoot() }

    init(_ shape: [Int], heads: Int) {
        precondition(shape.count == 3 && shape[2] % 3 == 0 && heads > 0 && (shape[2] / 3) % heads == 0,
                     "selfAttention: packed projections \(shape) are not [batch, time, 3·width] with width divisible by \(heads) heads")
        (batch, time, width, self.heads) = (shape[0], shape[1], shape[2] / 3, heads)
    }
}

/// Multi-head self-attention on packed query/key/value projections `qkv` [batch, time, 3·width] (queries, then
/// keys, then values, each `heads` blocks of width/heads): softmax(q·kᵀ/√d)·v per head, heads side by side in the
/// result [batch, time, width]. Fused: the heads are read and written in place by OpenBLAS products (no split or
/// transpose copies), the softmax is computed once and kept for the backward pass.
@differentiable(reverse, wrt: qkv)
public func selfAttention(_ qkv: DTensor, heads: Int, causal: Bool) -> DTensor {
    selfAttentionForward(qkv, SelfAttentionGeometry(qkv.shape, heads: heads), causal: causal).output
}

func selfAttentionForward(_ qkv: DTensor, _ g: SelfAttentionGeometry, causal: Bool) -> (output: DTensor, probabilities: [Float]) {
    let t = g.time, d = g.depth, stride = 3 * g.width
    var probabilities = [Float](repeating: 0, count: g.batch * g.heads * t * t)
    let output = qkv.withPointer { packed in
        DTensor.filled([g.batch, t, g.width]) { out in
            probabilities.withUnsafeMutableBufferPointer { p in
                for b in 0..<g.batch {
                    for h in 0..<g.heads {
                        let q = packed + b * t * stride + h * d, k = q + g.width, v = q + 2 * g.width
                        let scores = p.baseAddress! + (b * g.heads + h) * t * t
                        BLAS.gemm(transposeA: false, transposeB: true, m: t, n: t, k: d, alpha: g.scale, q, lda: stride, k, ldb: stride,
                                  beta: 0, scores, ldc: t)
                        for row in 0..<t {
                            let line = scores + row * t
                            let visible = causal ? row + 1 : t
                            var top = -Float.infinity
                            for column in 0..<visible { top = Swift.max(top, line[column]) }
                            var total: Float = 0
                            for column in 0..<visible {
                                line[column] = Foundation.exp(line[column] - top)
                                total += line[column]
                            }
                            let inverse = 1 / total
                            for column in 0..<visible { line[column] *= inverse }
                            for column in visible..<t { line[column] = 0 }
                        }
                        BLAS.gemm(transposeA: false, transposeB: false, m: t, n: d, k: t, scores, lda: t, v, ldb: stride,
                                  beta: 0, out.baseAddress! + b * t * g.width + h * d, ldc: g.width)
                    }
                }
            }
        }
    }
    return (output, probabilities)
}

@derivative(of: selfAttention, wrt: qkv)
public func vjpSelfAttention(_ qkv: DTensor, heads: Int, causal: Bool) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let g = SelfAttentionGeometry(qkv.shape, heads: heads)
    let (output, probabilities) = selfAttentionForward(qkv, g, causal: causal)
    return (output, { gradient in
        guard !gradient.isZeroTangent, !qkv.isConstant else { return .zero }
        let t = g.time, d = g.depth, stride = 3 * g.width
        var dScores = [Float](repeating: 0, count: t * t)
        let dqkv = qkv.withPointer { packed in gradient.withPointer { dOut in probabilities.withUnsafeBufferPointer { p in
            DTensor.filled(qkv.shape) { result in
                dScores.withUnsafeMutableBufferPointer { ds in
                    for b in 0..<g.batch {
                        for h in 0..<g.heads {
                            let q = packed + b * t * stride + h * d, k = q + g.width, v = q + 2 * g.width
                            let dq = result.baseAddress! + b * t * stride + h * d, dk = dq + g.width, dv = dq + 2 * g.width
                            let dO = dOut + b * t * g.width + h * d
                            let probability = p.baseAddress! + (b * g.heads + h) * t * t
                            // dV = Pᵀ·dO; dP = dO·Vᵀ
                            BLAS.gemm(transposeA: true, transposeB: false, m: t, n: d, k: t, probability, lda: t, dO, ldb: g.width,
                                      beta: 0, dv, ldc: stride)
                            BLAS.gemm(transposeA: false, transposeB: true, m: t, n: t, k: d, dO, lda: g.width, v, ldb: stride,
                                      beta: 0, ds.baseAddress!, ldc: t)
                            // dS = P ⊙ (dP − Σ dP⊙P) · scale (hidden positions have P = 0)
                            for row in 0..<t {
                                let line = ds.baseAddress! + row * t, pLine = probability + row * t
                                let visible = causal ? row + 1 : t
                                var dot: Float = 0
                                for column in 0..<visible { dot += line[column] * pLine[column] }
                                for column in 0..<visible { line[column] = pLine[column] * (line[column] - dot) * g.scale }
                                for column in visible..<t { line[column] = 0 }
                            }
                            // dQ = dS·K; dK = dSᵀ·Q
                            BLAS.gemm(transposeA: false, transposeB: false, m: t, n: d, k: t, ds.baseAddress!, lda: t, k, ldb: stride,
                                      beta: 0, dq, ldc: stride)
                            BLAS.gemm(transposeA: true, transposeB: false, m: t, n: d, k: t, ds.baseAddress!, lda: t, q, ldb: stride,
                                      beta: 0, dk, ldc: stride)
                        }
                    }
                }
            }
        } } }
        return qkv.deliver(dqkv)
    })
}

/// Multi-head self-attention (PyTorch's `MultiheadAttention` with packed in-projection, batch first): one
/// projection to queries, keys and values, the fused attention, an output projection.
public struct MultiHeadAttention: Differentiable {
    /// [width] → [3·width]: queries, keys, values.
    public var inputProjection: Dense
    /// [width] → [width].
    public var outputProjection: Dense
    /// Number of heads; the width divides into them.
    @noDerivative public let heads: Int
    /// Whether each position attends only to itself and earlier ones.
    @noDerivative public let causal: Bool

    /// Attention over `width` features in `heads` heads.
    public init(width: Int, heads: Int, causal: Bool = false, random: inout CounterRandom) {
        precondition(width > 0 && heads > 0 && width % heads == 0, "MultiHeadAttention: width \(width) does not divide into \(heads) heads")
        inputProjection = Dense(inputs: width, outputs: 3 * width, random: &random)
        outputProjection = Dense(inputs: width, outputs: width, random: &random)
        self.heads = heads
        self.causal = causal
    }

    /// [batch, time, width] → [batch, time, width].
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor {
        outputProjection(selfAttention(inputProjection(x), heads: heads, causal: causal))
    }
}
