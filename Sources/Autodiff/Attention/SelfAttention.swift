import Foundation
import NeuralNet
import _Differentiation

/// The layout of a fused multi-head self-attention over packed projections [batch, time, 3·width].
struct SelfAttentionGeometry {
    let batch: Int, time: Int, width: Int, heads: Int
    var depth: Int { width / heads }
    var scale: Float { 1 / Float(depth).squareRoot() }

    init(_ shape: [Int], heads: Int) {
        ensure(
            shape.count == 3 && shape[2] % 3 == 0 && heads > 0 && (shape[2] / 3) % heads == 0,
            "selfAttention: packed projections \(shape) are not [batch, time, 3·width] with width divisible by \(heads) heads")
        (batch, time, width, self.heads) = (shape[0], shape[1], shape[2] / 3, heads)
    }
}

/// Multi-head self-attention on packed query/key/value projections `qkv` [batch, time, 3·width] (queries, then
/// keys, then values, each `heads` blocks of width/heads): softmax(q·kᵀ/√d)·v per head, heads side by side in the
/// result [batch, time, width]. Fused: the heads are read and written in place by OpenBLAS products (no split or
/// transpose copies), the softmax is computed once and kept for the backward pass.
@differentiable(reverse,wrt: qkv)
public func selfAttention(_ qkv: DTensor, heads: Int, causal: Bool) -> DTensor {
    selfAttentionForward(qkv, SelfAttentionGeometry(qkv.shape, heads: heads), causal: causal).output
}

/// Query rows per tile: a causal attention's tile of rows r0..<r1 needs only keys 0..<r1, so the products skip most
/// of the hidden upper triangle.
let attentionTile = 32

/// The query tiles of a sequence of `time` positions: (first row, end row, keys needed).
func attentionTiles(time: Int, causal: Bool) -> [(start: Int, end: Int, keys: Int)] {
    guard causal else { return [(0, time, time)] }
    return stride(from: 0, to: time, by: attentionTile).map { start in
        let end = Swift.min(start + attentionTile, time)
        return (start, end, end)
    }
}

func selfAttentionForward(_ qkv: DTensor, _ g: SelfAttentionGeometry, causal: Bool) -> (output: DTensor, probabilities: [Float]) {
    let t = g.time
    let d = g.depth
    let stride = 3 * g.width
    let tiles = attentionTiles(time: t, causal: causal)
    var probabilities = [Float](unsafeUninitializedCapacity: g.batch * g.heads * t * t) { _, count in count = g.batch * g.heads * t * t }
    let output = qkv.withPointer { packed in
        DTensor.filled([g.batch, t, g.width]) { out in
            probabilities.withUnsafeMutableBufferPointer { p in
                let (pBase, outBase) = (p.baseAddress!, out.baseAddress!)
                BLAS.forEachInParallel(g.batch * g.heads) { _, pair in
                    let (b, h) = (pair / g.heads, pair % g.heads)
                    let q = packed + b * t * stride + h * d
                    let k = q + g.width
                    let v = q + 2 * g.width
                    let scores = pBase + pair * t * t
                    let result = outBase + b * t * g.width + h * d
                    for tile in tiles {
                        let rows = tile.end - tile.start
                        BLAS.gemm(
                            transposeA: false, transposeB: true, m: rows, n: tile.keys, k: d, alpha: g.scale, q + tile.start * stride,
                            lda: stride, k, ldb: stride, beta: 0, scores + tile.start * t, ldc: t)
                        for row in tile.start..<tile.end {
                            Kernels.softmaxRow(scores + row * t, visible: causal ? row + 1 : t, width: t)
                        }
                        BLAS.gemm(
                            transposeA: false, transposeB: false, m: rows, n: d, k: tile.keys, scores + tile.start * t, lda: t, v,
                            ldb: stride, beta: 0, result + tile.start * g.width, ldc: g.width)
                    }
                }
            }
        }
    }
    return (output, probabilities)
}

/// The derivative of `selfAttention`: its value and pullback, registered for `_Differentiation`.
@derivative(of: selfAttention, wrt: qkv)
public func vjpSelfAttention(_ qkv: DTensor, heads: Int, causal: Bool) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let g = SelfAttentionGeometry(qkv.shape, heads: heads)
    let (output, probabilities) = selfAttentionForward(qkv, g, causal: causal)
    return (
        output,
        { gradient in
            guard !gradient.isZeroTangent, !qkv.isConstant else { return .zero }
            let t = g.time
            let d = g.depth
            let stride = 3 * g.width
            let tiles = attentionTiles(time: t, causal: causal)
            let workers = Swift.max(1, BLAS.threadCount)  // any compute thread may run a pair, nested regions included
            var scratch = [Float](repeating: 0, count: workers * t * t)
            let dqkv = qkv.withPointer { packed in
                gradient.withPointer { dOut in
                    probabilities.withUnsafeBufferPointer { p in
                        DTensor.filled(qkv.shape) { result in
                            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                                let (resultBase, scratchBase, pBase) = (result.baseAddress!, scratchBuffer.baseAddress!, p.baseAddress!)
                                BLAS.forEachInParallel(g.batch * g.heads) { worker, pair in
                                    let (b, h) = (pair / g.heads, pair % g.heads)
                                    let q = packed + b * t * stride + h * d
                                    let k = q + g.width
                                    let v = q + 2 * g.width
                                    let dq = resultBase + b * t * stride + h * d
                                    let dk = dq + g.width
                                    let dv = dq + 2 * g.width
                                    let dO = dOut + b * t * g.width + h * d
                                    let probability = pBase + pair * t * t
                                    let ds = scratchBase + worker * t * t
                                    for row in 0..<t {
                                        (dk + row * stride).update(repeating: 0, count: d)
                                        (dv + row * stride).update(repeating: 0, count: d)
                                    }
                                    for tile in tiles {
                                        let rows = tile.end - tile.start
                                        let pTile = probability + tile.start * t
                                        let dsTile = ds + tile.start * t
                                        // dV += Pᵀ·dO; dP = dO·Vᵀ
                                        BLAS.gemm(
                                            transposeA: true, transposeB: false, m: tile.keys, n: d, k: rows, pTile, lda: t,
                                            dO + tile.start * g.width, ldb: g.width, beta: 1, dv, ldc: stride)
                                        BLAS.gemm(
                                            transposeA: false, transposeB: true, m: rows, n: tile.keys, k: d, dO + tile.start * g.width,
                                            lda: g.width, v, ldb: stride, beta: 0, dsTile, ldc: t)
                                        // dS = P ⊙ (dP − Σ dP⊙P) · scale
                                        for row in tile.start..<tile.end {
                                            Kernels.softmaxRowBackward(
                                                probability + row * t, ds + row * t, visible: causal ? row + 1 : t,
                                                width: tile.keys, scale: g.scale)
                                        }
                                        // dQ = dS·K; dK += dSᵀ·Q
                                        BLAS.gemm(
                                            transposeA: false, transposeB: false, m: rows, n: d, k: tile.keys, dsTile, lda: t, k, ldb: stride,
                                            beta: 0, dq + tile.start * stride, ldc: stride)
                                        BLAS.gemm(
                                            transposeA: true, transposeB: false, m: tile.keys, n: d, k: rows, dsTile, lda: t,
                                            q + tile.start * stride, ldb: stride, beta: 1, dk, ldc: stride)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return qkv.deliver(dqkv)
        }
    )
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
        ensure(width > 0 && heads > 0 && width % heads == 0, "MultiHeadAttention: width \(width) does not divide into \(heads) heads")
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
