import Foundation
import NeuralNet
import _Differentiation

/// What the LSTM's backward pass needs from its forward pass, per step.
struct LSTMSaved {
    /// [time, batch, 4·hidden]: the gates after their activations (i, f, g, o).
    var gates: [Float]
    /// [time + 1, batch, hidden]: the cell state before each step and after the last.
    var cells: [Float]
    /// [time + 1, batch, hidden]: the hidden state before each step and after the last.
    var hiddens: [Float]
    /// [time, batch, hidden]: tanh of each step's cell state.
    var tanhCells: [Float]
}

/// A one-layer LSTM over a batch of sequences (PyTorch's `LSTM(batch_first=True)`, gates i, f, g, o):
/// `x` [batch, time, inputs] from `state` → every step's hidden state and the final state. Fused: the input
/// projections of all steps are one product, each step one product with the recurrent weights.
@differentiable(reverse,wrt: (x, state, weightIH, weightHH, biasIH, biasHH))
public func lstm(_ x: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor)
    -> RecurrentOutput
{
    let g = RecurrentGeometry(x, state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 4, cell: true, "lstm")
    return lstmForward(x, state, weightIH, weightHH, biasIH, biasHH, g).output
}

/// `count` floats whose values are not set: only for a buffer written whole before any of it is read.
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

/// x·W_ihᵀ + b_ih + b_hh for every step at once: [batch·time, gates·hidden].
func inputProjection(_ x: DTensor, _ weightIH: DTensor, _ biases: [Float], _ g: RecurrentGeometry) -> [Float] {
    // Every value is written by the bias broadcast before the product adds to it.
    var projected = uninitializedFloats(g.batch * g.time * g.width)
    guard !projected.isEmpty else { return projected }
    x.withPointer { input in
        weightIH.withPointer { w in
            biases.withUnsafeBufferPointer { bias in
                projected.withUnsafeMutableBufferPointer { out in
                    Kernels.broadcastRows(bias.baseAddress!, out.baseAddress!, rows: g.batch * g.time, width: g.width)
                    if g.inputs > 0 {
                        BLAS.gemm(
                            transposeA: false, transposeB: true, m: g.batch * g.time, n: g.width, k: g.inputs, input, lda: g.inputs, w,
                            ldb: g.inputs, beta: 1, out.baseAddress!, ldc: g.width)
                    }
                }
            }
        }
    }
    return projected
}

@inline(__always) func logistic(_ value: Float) -> Float { 1 / (1 + Foundation.exp(-value)) }

func lstmForward(
    _ x: DTensor, _ state: RecurrentState, _ weightIH: DTensor, _ weightHH: DTensor, _ biasIH: DTensor, _ biasHH: DTensor,
    _ g: RecurrentGeometry
) -> (output: RecurrentOutput, saved: LSTMSaved) {
    let biases = zip(biasIH.values, biasHH.values).map { $0 + $1 }
    return lstmRecurrence(projected: inputProjection(x, weightIH, biases, g), rowOf: nil, state, weightHH, g)
}

/// The LSTM's time loop from the input projections: `projected` holds a row of gates·hidden per position
/// ([batch·time] rows), or, with `rowOf`, per token, position p reading row `rowOf[p]`.
func lstmRecurrence(projected: [Float], rowOf: [Int]?, _ state: RecurrentState, _ weightHH: DTensor, _ g: RecurrentGeometry)
    -> (output: RecurrentOutput, saved: LSTMSaved)
{
    let (batch, time, hidden, width) = (g.batch, g.time, g.hidden, g.width)
    // Every value of these is written before it is read (the first step's state from `state`): no zero-filling.
    var saved = LSTMSaved(
        gates: uninitializedFloats(time * batch * width), cells: uninitializedFloats((time + 1) * batch * hidden),
        hiddens: uninitializedFloats((time + 1) * batch * hidden), tanhCells: uninitializedFloats(time * batch * hidden))
    saved.hiddens.replaceSubrange(0..<(batch * hidden), with: state.hidden.values)
    saved.cells.replaceSubrange(0..<(batch * hidden), with: state.cell.values)
    var output = uninitializedFloats(batch * time * hidden)
    var preactivation = uninitializedFloats(batch * width)
    weightHH.withPointer { w in
        projected.withUnsafeBufferPointer { projection in
            preactivation.withUnsafeMutableBufferPointer { pre in
                saved.gates.withUnsafeMutableBufferPointer { gates in
                    saved.cells.withUnsafeMutableBufferPointer { cells in
                        saved.hiddens.withUnsafeMutableBufferPointer { hiddens in
                            saved.tanhCells.withUnsafeMutableBufferPointer { tanhCells in
                                output.withUnsafeMutableBufferPointer { out in
                                    let (outBase, preBase, gatesBase) = (out.baseAddress!, pre.baseAddress!, gates.baseAddress!)
                                    let (cellsBase, hiddensBase, tanhBase, projectionBase) = (
                                        cells.baseAddress!, hiddens.baseAddress!, tanhCells.baseAddress!,
                                        projection.baseAddress!
                                    )
                                    // Rows are independent sequences: blocks of rows run the whole time loop on the BLAS threads, one each
                                    // (a row's values do not depend on the blocks).
                                    let blocks = recurrentRowBlocks(batch)
                                    // W_hhᵀ packed once for every step (`pre += h · W_hhᵀ`).
                                    let recurrent = PackedPanels(w, ldb: hidden, transposed: true, inner: hidden, columns: width)
                                    BLAS.forEachInParallel(blocks.count) { _, blockIndex in
                                        let rows = blocks[blockIndex]
                                        let count = rows.count
                                        for t in 0..<time {
                                            for b in rows {
                                                let row = rowOf.map { $0[b * time + t] } ?? (b * time + t)
                                                (preBase + b * width).update(from: projectionBase + row * width, count: width)
                                            }
                                            recurrent.product(
                                                hiddensBase + (t * batch + rows.lowerBound) * hidden, lda: hidden, rows: count,
                                                into: preBase + rows.lowerBound * width, ldc: width, accumulate: true)
                                            let step = gatesBase + t * batch * width
                                            let previousCell = cellsBase + t * batch * hidden
                                            let cell = cellsBase + (t + 1) * batch * hidden
                                            let tanhCell = tanhBase + t * batch * hidden
                                            let next = hiddensBase + (t + 1) * batch * hidden
                                            for b in rows {
                                                Kernels.lstmCellForward(
                                                    preactivation: preBase + b * width, previousCell: previousCell + b * hidden,
                                                    gates: step + b * width, cell: cell + b * hidden, tanhCell: tanhCell + b * hidden,
                                                    hiddenState: next + b * hidden, output: outBase + (b * time + t) * hidden, hidden: hidden)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let last = time * batch * hidden
    let final = RecurrentState(
        hidden: DTensor(shape: [batch, hidden], values: Array(saved.hiddens[last..<(last + batch * hidden)])),
        cell: DTensor(shape: [batch, hidden], values: Array(saved.cells[last..<(last + batch * hidden)])))
    return (RecurrentOutput(output: DTensor(shape: [batch, time, hidden], values: output), state: final), saved)
}

/// The derivative of `lSTM`: its value and pullback, registered for `_Differentiation`.
@derivative(of: lstm, wrt: (x, state, weightIH, weightHH, biasIH, biasHH))
public func vjpLSTM(_ x: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor)
    -> (
        value: RecurrentOutput,
        pullback: (RecurrentOutput.TangentVector) -> (DTensor, RecurrentState.TangentVector, DTensor, DTensor, DTensor, DTensor)
    )
{
    let g = RecurrentGeometry(x, state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 4, cell: true, "lstm")
    let (value, saved) = lstmForward(x, state, weightIH, weightHH, biasIH, biasHH, g)
    return (
        value,
        { tangent in
            let (dGates, previousHiddens, dh, dc) = lstmGateGradients(tangent, saved, weightHH, g)
            return recurrentWeightGradients(
                x, state, weightIH, weightHH, biasIH, biasHH, g, dGates: dGates, recurrentGates: nil,
                previousHiddens: previousHiddens, dh: dh, dc: dc)
        }
    )
}

/// The LSTM's backward time loop: from the tangent of its outputs and final state, the gate gradients of every
/// position ([batch·time, 4·hidden], laid out as the input projection), the hidden state before each position
/// (same layout, [batch·time, hidden]) and the gradients of the starting state.
func lstmGateGradients(_ tangent: RecurrentOutput.TangentVector, _ saved: LSTMSaved, _ weightHH: DTensor, _ g: RecurrentGeometry)
    -> (dGates: [Float], previousHiddens: [Float], dh: [Float], dc: [Float])
{
    let (batch, time, hidden, width) = (g.batch, g.time, g.hidden, g.width)
    let dOutput = tangent.output.orZeros([batch, time, hidden])
    var dh = tangent.state.hidden.orZeros([batch, hidden]).values
    var dc = tangent.state.cell.orZeros([batch, hidden]).values
    // dGates for every step, laid out as the input projection ([batch·time, 4·hidden]).
    // Written whole, step by step, before being read.
    var dGates = uninitializedFloats(batch * time * width)
    var stepGradient = uninitializedFloats(batch * width)
    var previousHiddens = uninitializedFloats(batch * time * hidden)
    weightHH.withPointer { w in
        dOutput.withPointer { dOut in
            saved.gates.withUnsafeBufferPointer { gatesBuffer in
                saved.tanhCells.withUnsafeBufferPointer { tanhBuffer in
                    saved.cells.withUnsafeBufferPointer { cellsBuffer in
                        saved.hiddens.withUnsafeBufferPointer { hiddensBuffer in
                            dh.withUnsafeMutableBufferPointer { dhBuffer in
                                dc.withUnsafeMutableBufferPointer { dcBuffer in
                                    dGates.withUnsafeMutableBufferPointer { dGatesBuffer in
                                        stepGradient.withUnsafeMutableBufferPointer { stepBuffer in
                                            previousHiddens.withUnsafeMutableBufferPointer { previousBuffer in
                                                let (gates, tanhCells, cells, hiddens) = (
                                                    gatesBuffer.baseAddress!, tanhBuffer.baseAddress!, cellsBuffer.baseAddress!,
                                                    hiddensBuffer.baseAddress!
                                                )
                                                let (dhBase, dcBase, dGatesBase, stepBase, previousBase) = (
                                                    dhBuffer.baseAddress!, dcBuffer.baseAddress!,
                                                    dGatesBuffer.baseAddress!, stepBuffer.baseAddress!,
                                                    previousBuffer.baseAddress!
                                                )
                                                let blocks = recurrentRowBlocks(batch)
                                                // W_hh packed once for every step (`dh = dGates · W_hh`).
                                                let recurrent = PackedPanels(w, ldb: hidden, transposed: false, inner: width, columns: hidden)
                                                BLAS.forEachInParallel(blocks.count) { _, blockIndex in
                                                    let rows = blocks[blockIndex]
                                                    for t in stride(from: time - 1, through: 0, by: -1) {
                                                        for b in rows {
                                                            let gateBase = (t * batch + b) * width
                                                            let previousIndex = (t * batch + b) * hidden
                                                            Kernels.lstmCellBackward(
                                                                gates: gates + gateBase, tanhCell: tanhCells + previousIndex,
                                                                previousCell: cells + previousIndex, hiddenGradient: dhBase + b * hidden,
                                                                outputGradient: dOut + (b * time + t) * hidden, cellGradient: dcBase + b * hidden,
                                                                step: stepBase + b * width, gateGradients: dGatesBase + (b * time + t) * width,
                                                                hidden: hidden)
                                                            (previousBase + (b * time + t) * hidden).update(
                                                                from: hiddens + previousIndex, count: hidden)
                                                        }
                                                        // dh_{t-1} = dGates_t · W_hh
                                                        recurrent.product(
                                                            stepBase + rows.lowerBound * width, lda: width, rows: rows.count,
                                                            into: dhBase + rows.lowerBound * hidden, ldc: hidden, accumulate: false)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (dGates, previousHiddens, dh, dc)
}

/// The rows of a batch in blocks of about 16 sequences (at most 8 blocks), each block's time loop run wholly on one
/// compute thread; the blocks depend on the batch alone, so a row's values never depend on the thread count.
func recurrentRowBlocks(_ batch: Int) -> [Range<Int>] {
    let blocks = Swift.max(1, Swift.min(8, batch / 16))
    return (0..<blocks).map { block in (block * batch / blocks)..<((block + 1) * batch / blocks) }
}

/// The gradients every fused recurrent layer ends with: the input's and the weights' from the per-step gate
/// gradients (input side `dGates`, recurrent side `recurrentGates`, both [batch·time, gates·hidden]; nil: the same).
func recurrentWeightGradients(
    _ x: DTensor, _ state: RecurrentState, _ weightIH: DTensor, _ weightHH: DTensor, _ biasIH: DTensor,
    _ biasHH: DTensor, _ g: RecurrentGeometry, dGates: [Float], recurrentGates: [Float]?,
    previousHiddens: [Float], dh: [Float], dc: [Float]?
)
    -> (DTensor, RecurrentState.TangentVector, DTensor, DTensor, DTensor, DTensor)
{
    let rows = g.batch * g.time
    let width = g.width
    func product(_ transposeA: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ lda: Int, _ b: DTensor, _ ldb: Int, _ transposeB: Bool)
        -> [Float]
    {
        var result = [Float](repeating: 0, count: m * n)
        guard m > 0, n > 0, k > 0 else { return result }
        a.withUnsafeBufferPointer { pa in
            b.withPointer { pb in
                result.withUnsafeMutableBufferPointer { out in
                    BLAS.gemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, pa.baseAddress!, lda: lda, pb, ldb: ldb,
                        beta: 0, out.baseAddress!, ldc: n)
                }
            }
        }
        return result
    }
    let dx =
        x.isConstant
        ? DTensor.zero
        : x.deliver(DTensor(shape: x.shape, values: product(false, rows, g.inputs, width, dGates, width, weightIH, g.inputs, false)))
    let dWeightIH = weightIH.deliver(DTensor(shape: weightIH.shape, values: product(true, width, g.inputs, rows, dGates, width, x, g.inputs, false)))
    let hiddenStates = DTensor(shape: [rows, g.hidden], values: previousHiddens)
    let dWeightHH = weightHH.deliver(
        DTensor(
            shape: weightHH.shape,
            values: product(true, width, g.hidden, rows, recurrentGates ?? dGates, width, hiddenStates, g.hidden, false)))
    // Column sums in row order (the bits of a loop over rows), once when both sides share their gate gradients.
    func columnSums(_ values: [Float]) -> [Float] {
        var sums = [Float](repeating: 0, count: width)
        values.withUnsafeBufferPointer { input in
            sums.withUnsafeMutableBufferPointer { output in
                Kernels.sumRows(input.baseAddress!, output.baseAddress!, rows: rows, width: width, accumulate: false)
            }
        }
        return sums
    }
    let dBiasIH = rows > 0 ? columnSums(dGates) : [Float](repeating: 0, count: width)
    let dBiasHH = recurrentGates.map { rows > 0 ? columnSums($0) : [Float](repeating: 0, count: width) } ?? dBiasIH
    let dState = RecurrentState.TangentVector(
        hidden: state.hidden.deliver(DTensor(shape: [g.batch, g.hidden], values: dh)),
        cell: dc.map { state.cell.deliver(DTensor(shape: [g.batch, g.hidden], values: $0)) } ?? .zero)
    return (
        dx, dState, dWeightIH, dWeightHH, biasIH.deliver(DTensor(shape: biasIH.shape, values: dBiasIH)),
        biasHH.deliver(DTensor(shape: biasHH.shape, values: dBiasHH))
    )
}

/// A one-layer LSTM (PyTorch's `LSTM(inputs, hidden, batch_first=True)`, its initialisation U(-1/√hidden, 1/√hidden)).
/// Stack layers by feeding one's `output` to the next.
public struct LSTM: Differentiable {
    /// [4·hidden, inputs], gates i, f, g, o.
    public var weightIH: DTensor
    /// [4·hidden, hidden].
    public var weightHH: DTensor
    /// [4·hidden].
    public var biasIH: DTensor
    /// [4·hidden].
    public var biasHH: DTensor
    /// The hidden size.
    @noDerivative public let hiddenSize: Int

    /// An LSTM from `inputs` features to `hidden` features.
    public init(inputs: Int, hidden: Int, random: inout CounterRandom) {
        (weightIH, weightHH, biasIH, biasHH) = recurrentWeights(gates: 4, inputs: inputs, hidden: hidden, "LSTM", random: &random)
        hiddenSize = hidden
    }

    /// Zeros for `batch` sequences.
    @differentiable(reverse)
    public func zeroState(batch: Int) -> RecurrentState { RecurrentState(batch: batch, hidden: hiddenSize, cell: true) }

    /// Runs `x` [batch, time, inputs] from `state`.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor, state: RecurrentState) -> RecurrentOutput {
        lstm(x, state: state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }

    /// Runs the embeddings in `embedding` of the token ids `tokens` [batch, time] (whole-number floats) from `state`:
    /// `callAsFunction(embedding(tokens), state:)`, computed per token when the vocabulary is the smaller.
    @differentiable(reverse)
    public func callAsFunction(tokens: DTensor, embedding: Embedding, state: RecurrentState) -> RecurrentOutput {
        embeddedLSTM(
            withoutDerivative(at: tokens.integerValues), shape: withoutDerivative(at: tokens.shape), table: embedding.table, state: state,
            weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }

    /// Runs `x` [batch, time, inputs] from the zero state.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> RecurrentOutput {
        callAsFunction(x, state: zeroState(batch: withoutDerivative(at: x.shape.first ?? 0)))
    }
}
