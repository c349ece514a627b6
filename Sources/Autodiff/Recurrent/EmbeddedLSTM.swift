import NeuralNet
import _Differentiation

/// An LSTM over the embeddings of token ids: `lstm(embedding(tokens, table: table, indexShape: [batch, time]), ...)`
/// (PyTorch's `Embedding` then `LSTM`). When the vocabulary is smaller than the batch's positions, the input
/// projection is made once per token (table·W_ihᵀ) and each position reads its token's row, and the backward pass
/// sums the gate gradients per token before its products: the input side then costs vocabulary rows, not positions.
@differentiable(reverse,wrt: (table, state, weightIH, weightHH, biasIH, biasHH))
public func embeddedLSTM(
    _ tokens: [Int], shape: [Int], table: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor,
    biasHH: DTensor
) -> RecurrentOutput {
    if withoutDerivative(at: table.shape.first ?? 0) < tokens.count {
        return tokenProjectedLSTM(
            tokens, shape: shape, table: table, state: state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH,
            biasHH: biasHH)
    }
    return lstm(
        embedding(tokens, table: table, indexShape: shape), state: state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH,
        biasHH: biasHH)
}

/// The geometry of `tokens` laid out as `shape` [batch, time], embedded by `table` [vocabulary, inputs].
private func embeddedGeometry(
    _ tokens: [Int], _ shape: [Int], _ table: DTensor, _ state: RecurrentState, _ weightIH: DTensor, _ weightHH: DTensor,
    _ biasIH: DTensor, _ biasHH: DTensor
) -> RecurrentGeometry {
    ensure(shape.count == 2 && shape[0] * shape[1] == tokens.count, "embeddedLSTM: \(tokens.count) tokens do not fill [batch, time] \(shape)")
    ensure(table.rank == 2, "embeddedLSTM: the table must be [vocabulary, width], not \(table.shape)")
    let vocabulary = table.shape[0]
    for token in tokens { ensure(token >= 0 && token < vocabulary, "embeddedLSTM: token \(token) outside 0..<\(vocabulary)") }
    return RecurrentGeometry(
        batch: shape[0], time: shape[1], inputs: table.shape[1], state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH,
        biasHH: biasHH, gates: 4, cell: true, "embeddedLSTM")
}

/// The per-token path of `embeddedLSTM`.
@differentiable(reverse,wrt: (table, state, weightIH, weightHH, biasIH, biasHH))
func tokenProjectedLSTM(
    _ tokens: [Int], shape: [Int], table: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor,
    biasHH: DTensor
) -> RecurrentOutput {
    let g = embeddedGeometry(tokens, shape, table, state, weightIH, weightHH, biasIH, biasHH)
    let biases = zip(biasIH.values, biasHH.values).map { $0 + $1 }
    return lstmRecurrence(projected: tokenProjection(table, weightIH, biases), rowOf: tokens, state, weightHH, g).output
}

/// table·W_ihᵀ + b_ih + b_hh: one row of gate inputs per token, [vocabulary, gates·hidden].
private func tokenProjection(_ table: DTensor, _ weightIH: DTensor, _ biases: [Float]) -> [Float] {
    let (vocabulary, inputs, width) = (table.shape[0], table.shape[1], biases.count)
    var projected = uninitializedFloats(vocabulary * width)
    guard !projected.isEmpty else { return projected }
    table.withPointer { t in
        weightIH.withPointer { w in
            biases.withUnsafeBufferPointer { bias in
                projected.withUnsafeMutableBufferPointer { out in
                    Kernels.broadcastRows(bias.baseAddress!, out.baseAddress!, rows: vocabulary, width: width)
                    BLAS.gemm(
                        transposeA: false, transposeB: true, m: vocabulary, n: width, k: inputs, t, lda: inputs, w, ldb: inputs, beta: 1,
                        out.baseAddress!, ldc: width)
                }
            }
        }
    }
    return projected
}

/// The derivative of the per-token path: its value and pullback, registered for `_Differentiation`.
@derivative(of: tokenProjectedLSTM, wrt: (table, state, weightIH, weightHH, biasIH, biasHH))
func vjpTokenProjectedLSTM(
    _ tokens: [Int], shape: [Int], table: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor,
    biasHH: DTensor
) -> (
    value: RecurrentOutput,
    pullback: (RecurrentOutput.TangentVector) -> (DTensor, RecurrentState.TangentVector, DTensor, DTensor, DTensor, DTensor)
) {
    let g = embeddedGeometry(tokens, shape, table, state, weightIH, weightHH, biasIH, biasHH)
    let biases = zip(biasIH.values, biasHH.values).map { $0 + $1 }
    let (value, saved) = lstmRecurrence(projected: tokenProjection(table, weightIH, biases), rowOf: tokens, state, weightHH, g)
    return (
        value,
        { tangent in
            let (dGates, previousHiddens, dh, dc) = lstmGateGradients(tangent, saved, weightHH, g)
            let (vocabulary, inputs, width) = (table.shape[0], g.inputs, g.width)
            // The gate gradients summed per token, in position order.
            var perToken = [Float](repeating: 0, count: vocabulary * width)
            dGates.withUnsafeBufferPointer { d in
                perToken.withUnsafeMutableBufferPointer { sums in
                    for (position, token) in tokens.enumerated() {
                        Kernels.add(d.baseAddress! + position * width, to: sums.baseAddress! + token * width, count: width)
                    }
                }
            }
            func product(_ transposeA: Bool, _ m: Int, _ n: Int, _ k: Int, _ b: DTensor, _ ldb: Int) -> [Float] {
                [Float](unsafeUninitializedCapacity: m * n) { out, initialized in
                    perToken.withUnsafeBufferPointer { a in
                        b.withPointer { pb in
                            BLAS.gemm(
                                transposeA: transposeA, transposeB: false, m: m, n: n, k: k, a.baseAddress!, lda: width, pb, ldb: ldb,
                                beta: 0, out.baseAddress!, ldc: n)
                        }
                    }
                    initialized = m * n
                }
            }
            // dTable = G·W_ih [vocabulary, inputs]; dW_ih = Gᵀ·table [gates·hidden, inputs].
            let dTable = table.deliver(DTensor(shape: table.shape, values: product(false, vocabulary, inputs, width, weightIH, inputs)))
            let dWeightIH = weightIH.deliver(DTensor(shape: weightIH.shape, values: product(true, width, inputs, vocabulary, table, inputs)))
            let rows = g.batch * g.time
            let dWeightHHValues = [Float](unsafeUninitializedCapacity: width * g.hidden) { out, initialized in
                dGates.withUnsafeBufferPointer { d in
                    previousHiddens.withUnsafeBufferPointer { h in
                        BLAS.gemm(
                            transposeA: true, transposeB: false, m: width, n: g.hidden, k: rows, d.baseAddress!, lda: width,
                            h.baseAddress!, ldb: g.hidden, beta: 0, out.baseAddress!, ldc: g.hidden)
                    }
                }
                initialized = width * g.hidden
            }
            let dWeightHH = weightHH.deliver(DTensor(shape: weightHH.shape, values: dWeightHHValues))
            // Both biases' gradient: the column sums of the per-token sums, in token order.
            var dBias = [Float](repeating: 0, count: width)
            perToken.withUnsafeBufferPointer { sums in
                dBias.withUnsafeMutableBufferPointer { out in
                    Kernels.sumRows(sums.baseAddress!, out.baseAddress!, rows: vocabulary, width: width, accumulate: false)
                }
            }
            let dState = RecurrentState.TangentVector(
                hidden: state.hidden.deliver(DTensor(shape: [g.batch, g.hidden], values: dh)),
                cell: state.cell.deliver(DTensor(shape: [g.batch, g.hidden], values: dc)))
            return (
                dTable, dState, dWeightIH, dWeightHH, biasIH.deliver(DTensor(shape: biasIH.shape, values: dBias)),
                biasHH.deliver(DTensor(shape: biasHH.shape, values: dBias))
            )
        }
    )
}
