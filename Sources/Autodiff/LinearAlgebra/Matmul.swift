import NeuralNet
import _Differentiation

/// The layout of a (batched) matrix product: leading dimensions, the sizes and which operand is shared.
struct MatmulGeometry {
    let m: Int, n: Int, k: Int
    let batch: Int, aBatch: Int, bBatch: Int
    let outputShape: [Int]
    let transposeA: Bool, transposeB: Bool

    init(_ a: [Int], _ b: [Int], transposeA: Bool, transposeB: Bool) {
        ensure(a.count >= 2 && b.count >= 2, "matmul: operands of shapes \(a) and \(b) need two dimensions each")
        let aRows = a[a.count - 2]
        let aColumns = a[a.count - 1]
        let bRows = b[b.count - 2]
        let bColumns = b[b.count - 1]
        (m, k) = transposeA ? (aColumns, aRows) : (aRows, aColumns)
        let bInner: Int
        (bInner, n) = transposeB ? (bColumns, bRows) : (bRows, bColumns)
        ensure(k == bInner, "matmul: \(a)\(transposeA ? "ᵀ" : "") · \(b)\(transposeB ? "ᵀ" : "") do not agree (\(k) vs \(bInner))")
        let aLeading = Array(a.dropLast(2))
        let bLeading = Array(b.dropLast(2))
        aBatch = aLeading.reduce(1, *)
        bBatch = bLeading.reduce(1, *)
        ensure(
            aLeading == bLeading || aLeading.isEmpty || bLeading.isEmpty,
            "matmul: leading dimensions \(aLeading) and \(bLeading) differ (one operand may have none)")
        batch = Swift.max(aBatch, bBatch)
        outputShape = (aLeading.count >= bLeading.count ? aLeading : bLeading) + [m, n]
        (self.transposeA, self.transposeB) = (transposeA, transposeB)
    }
}

/// The matrix product `op(a) · op(b)` over the last two dimensions, `op` transposing when asked; leading
/// (batch) dimensions must match, or one operand has none and is shared (PyTorch's `matmul`). On OpenBLAS.
@differentiable(reverse)
public func matmul(_ a: DTensor, _ b: DTensor, transposeA: Bool = false, transposeB: Bool = false) -> DTensor {
    matmulForward(a, b, MatmulGeometry(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB))
}

func matmulForward(_ a: DTensor, _ b: DTensor, _ g: MatmulGeometry) -> DTensor {
    a.withPointer { pa in
        b.withPointer { pb in
            DTensor.filled(g.outputShape) { out in
                guard out.count > 0 else { return }
                if g.k == 0 {
                    out.update(repeating: 0)
                    return
                }
                let lda = g.transposeA ? g.m : g.k
                let ldb = g.transposeB ? g.k : g.n
                if g.bBatch == 1, !g.transposeA {
                    // A shared right operand: every batch's rows in one product.
                    BLAS.gemm(
                        transposeA: false, transposeB: g.transposeB, m: g.batch * g.m, n: g.n, k: g.k, pa, lda: lda, pb, ldb: ldb,
                        beta: 0, out.baseAddress!, ldc: g.n)
                    return
                }
                for index in 0..<g.batch {
                    BLAS.gemm(
                        transposeA: g.transposeA, transposeB: g.transposeB, m: g.m, n: g.n, k: g.k,
                        pa + (g.aBatch == 1 ? 0 : index * g.m * g.k), lda: lda, pb + (g.bBatch == 1 ? 0 : index * g.k * g.n), ldb: ldb,
                        beta: 0, out.baseAddress! + index * g.m * g.n, ldc: g.n)
                }
            }
        }
    }
}

/// The derivative of `matmul`: its value and pullback, registered for `_Differentiation`.
@derivative(of: matmul)
public func vjpMatmul(_ a: DTensor, _ b: DTensor, transposeA: Bool, transposeB: Bool)
    -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor))
{
    let geometry = MatmulGeometry(a.shape, b.shape, transposeA: transposeA, transposeB: transposeB)
    let value = matmulForward(a, b, geometry)
    return (
        value,
        { gradient in
            guard !gradient.isZeroTangent else { return (.zero, .zero) }
            let (m, n, k) = (geometry.m, geometry.n, geometry.k)
            let (tA, tB) = (geometry.transposeA, geometry.transposeB)
            let lda = tA ? m : k
            let ldb = tB ? k : n
            var da = DTensor.zero
            var db = DTensor.zero
            gradient.withPointer { dc in
                a.withPointer { pa in
                    b.withPointer { pb in
                        if !a.isConstant {
                            var values = [Float](repeating: 0, count: a.count)
                            values.withUnsafeMutableBufferPointer { out in
                                guard out.count > 0 else { return }
                                for index in 0..<geometry.batch {
                                    let target = out.baseAddress! + (geometry.aBatch == 1 ? 0 : index * m * k)
                                    let dcBlock = dc + index * m * n
                                    let bBlock = pb + (geometry.bBatch == 1 ? 0 : index * k * n)
                                    if !tA {  // dA = dC · op(B)ᵀ, [m, k]
                                        BLAS.gemm(
                                            transposeA: false, transposeB: !tB, m: m, n: k, k: n, dcBlock, lda: n, bBlock, ldb: ldb,
                                            beta: 1, target, ldc: k)
                                    } else {  // dA = op(B) · dCᵀ, [k, m]
                                        BLAS.gemm(
                                            transposeA: tB, transposeB: true, m: k, n: m, k: n, bBlock, lda: ldb, dcBlock, ldb: n,
                                            beta: 1, target, ldc: m)
                                    }
                                }
                            }
                            da = a.deliver(DTensor(shape: a.shape, values: values))
                        }
                        if !b.isConstant {
                            var values = [Float](repeating: 0, count: b.count)
                            values.withUnsafeMutableBufferPointer { out in
                                guard out.count > 0 else { return }
                                if geometry.bBatch == 1, !tA, !tB {
                                    // dB = Aᵀ · dC with every batch's rows in one product.
                                    BLAS.gemm(
                                        transposeA: true, transposeB: false, m: k, n: n, k: geometry.batch * m, pa, lda: lda, dc, ldb: n,
                                        beta: 0, out.baseAddress!, ldc: n)
                                    return
                                }
                                for index in 0..<geometry.batch {
                                    let target = out.baseAddress! + (geometry.bBatch == 1 ? 0 : index * k * n)
                                    let dcBlock = dc + index * m * n
                                    let aBlock = pa + (geometry.aBatch == 1 ? 0 : index * m * k)
                                    if !tB {  // dB = op(A)ᵀ · dC, [k, n]
                                        BLAS.gemm(
                                            transposeA: !tA, transposeB: false, m: k, n: n, k: m, aBlock, lda: lda, dcBlock, ldb: n,
                                            beta: 1, target, ldc: n)
                                    } else {  // dB = dCᵀ · op(A), [n, k]
                                        BLAS.gemm(
                                            transposeA: true, transposeB: tA, m: n, n: k, k: m, dcBlock, lda: n, aBlock, ldb: lda,
                                            beta: 1, target, ldc: k)
                                    }
                                }
                            }
                            db = b.deliver(DTensor(shape: b.shape, values: values))
                        }
                    }
                }
            }
            return (da, db)
        }
    )
}
