import Foundation
import _Differentiation
import NeuralNet

/// What the LSTM's backward pass needs from its forward pass, per step.
struct LSTMSaved {
    /// [time, batch, 4·hidden]: the gates after their activations (i, f, g, o).
    var gates: [Float]
    /// [time + 1, batch, hidden]: the cell state before each step and after the last.
    var cells: [Float]
    /// [time + 1, batch, hidden]: the hidden state before each step and after the last.
    var hiddens: [Float]
}

/// A one-layer LSTM over a batch of sequences (PyTorch's `LSTM(batch_first=True)`, gates i, f, g, o):
/// `x` [batch, time, inputs] from `state` → every step's hidden state and the final state. Fused: the input
/// projections of all steps are one product, each step one product with the recurrent weights.
@differentiable(reverse, wrt: (x, state, weightIH, weightHH, biasIH, biasHH))
public func lstm(_ x: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor)
    -> RecurrentOutput
{
    let g = RecurrentGeometry(x, state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 4, cell: true, "lstm")
    return lstmForward(x, state, weightIH, weightHH, biasIH, biasHH, g).output
}

/// x·W_ihᵀ + b_ih + b_hh for every step at once: [batch·time, gates·hidden].
func inputProjection(_ x: DTensor, _ weightIH: DTensor, _ biases: [Float], _ g: RecurrentGeometry) -> [Float] {
    var projected = [Float](repeating: 0, count: g.batch * g.time * g.width)
    guard !projected.isEmpty else { return projected }
    x.withPointer { input in weightIH.withPointer { w in biases.withUnsafeBufferPointer { bias in
        projected.withUnsafeMutableBufferPointer { out in
            Kernels.broadcastRows(bias.baseAddress!, out.baseAddress!, rows: g.batch * g.time, width: g.width)
            if g.inputs > 0 {
                BLAS.gemm(transposeA: false, transposeB: true, m: g.batch * g.time, n: g.width, k: g.inputs, input, lda: g.inputs, w,
                          ldb: g.inputs, beta: 1, out.baseAddress!, ldc: g.width)
            }
        }
    } } }
    return projected
}

@inline(__always) func logistic(_ value: Float) -> Float { 1 / (1 + Foundation.exp(-value)) }

func lstmForward(_ x: DTensor, _ state: RecurrentState, _ weightIH: DTensor, _ weightHH: DTensor, _ biasIH: DTensor, _ biasHH: DTensor,
                 _ g: RecurrentGeometry) -> (output: RecurrentOutput, saved: LSTMSaved) {
    let (batch, time, hidden, width) = (g.batch, g.time, g.hidden, g.width)
    let biases = zip(biasIH.values, biasHH.values).map { $0 + $1 }
    let projected = inputProjection(x, weightIH, biases, g)
    var saved = LSTMSaved(gates: [Float](repeating: 0, count: time * batch * width),
                          cells: [Float](repeating: 0, count: (time + 1) * batch * hidden),
                          hiddens: [Float](repeating: 0, count: (time + 1) * batch * hidden))
    saved.hiddens.replaceSubrange(0..<(batch * hidden), with: state.hidden.values)
    saved.cells.replaceSubrange(0..<(batch * hidden), with: state.cell.values)
    var output = [Float](repeating: 0, count: batch * time * hidden)
    weightHH.withPointer { w in
        saved.gates.withUnsafeMutableBufferPointer { gates in saved.cells.withUnsafeMutableBufferPointer { cells in
            saved.hiddens.withUnsafeMutableBufferPointer { hiddens in
                for t in 0..<time {
                    let step = gates.baseAddress! + t * batch * width
                    for b in 0..<batch {
                        (step + b * width).update(from: projected.withUnsafeBufferPointer { $0.baseAddress! } + (b * time + t) * width, count: width)
                    }
                    let previousHidden = hiddens.baseAddress! + t * batch * hidden
                    if hidden > 0 {
                        BLAS.gemm(transposeA: false, transposeB: true, m: batch, n: width, k: hidden, previousHidden, lda: hidden, w,
                                  ldb: hidden, beta: 1, step, ldc: width)
                    }
                    let previousCell = cells.baseAddress! + t * batch * hidden
                    let cell = cells.baseAddress! + (t + 1) * batch * hidden, next = hiddens.baseAddress! + (t + 1) * batch * hidden
                    for b in 0..<batch {
                        let row = step + b * width
                        for j in 0..<hidden {
                            let i = logistic(row[j]), f = logistic(row[hidden + j])
                            let candidate = Foundation.tanh(row[2 * hidden + j]), o = logistic(row[3 * hidden + j])
                            (row[j], row[hidden + j], row[2 * hidden + j], row[3 * hidden + j]) = (i, f, candidate, o)
                            let c = f * previousCell[b * hidden + j] + i * candidate
                            cell[b * hidden + j] = c
                            let h = o * Foundation.tanh(c)
                            next[b * hidden + j] = h
                            output[(b * time + t) * hidden + j] = h
                        }
                    }
                }
            }
        } }
    }
    let last = time * batch * hidden
    let final = RecurrentState(hidden: DTensor(shape: [batch, hidden], values: Array(saved.hiddens[last..<(last + batch * hidden)])),
                               cell: DTensor(shape: [batch, hidden], values: Array(saved.cells[last..<(last + batch * hidden)])))
    return (RecurrentOutput(output: DTensor(shape: [batch, time, hidden], values: output), state: final), saved)
}

@derivative(of: lstm, wrt: (x, state, weightIH, weightHH, biasIH, biasHH))
public func vjpLSTM(_ x: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor)
    -> (value: RecurrentOutput,
        pullback: (RecurrentOutput.TangentVector) -> (DTensor, RecurrentState.TangentVector, DTensor, DTensor, DTensor, DTensor))
{
    let g = RecurrentGeometry(x, state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 4, cell: true, "lstm")
    let (value, saved) = lstmForward(x, state, weightIH, weightHH, biasIH, biasHH, g)
    return (value, { tangent in
        let (batch, time, hidden, width) = (g.batch, g.time, g.hidden, g.width)
        let dOutput = tangent.output.orZeros([batch, time, hidden])
        var dh = tangent.state.hidden.orZeros([batch, hidden]).values, dc = tangent.state.cell.orZeros([batch, hidden]).values
        // dGates for every step, laid out as the input projection ([batch·time, 4·hidden]).
        var dGates = [Float](repeating: 0, count: batch * time * width)
        var stepGradient = [Float](repeating: 0, count: batch * width)
        var previousHiddens = [Float](repeating: 0, count: batch * time * hidden)
        weightHH.withPointer { w in dOutput.withPointer { dOut in
            for t in stride(from: time - 1, through: 0, by: -1) {
                for b in 0..<batch {
                    let gates = (t * batch + b) * width, cellIndex = ((t + 1) * batch + b) * hidden, previousIndex = (t * batch + b) * hidden
                    for j in 0..<hidden {
                        let i = saved.gates[gates + j], f = saved.gates[gates + hidden + j]
                        let candidate = saved.gates[gates + 2 * hidden + j], o = saved.gates[gates + 3 * hidden + j]
                        let tanhC = Foundation.tanh(saved.cells[cellIndex + j])
                        let dhTotal = dh[b * hidden + j] + dOut[(b * time + t) * hidden + j]
                        let dcTotal = dc[b * hidden + j] + dhTotal * o * (1 - tanhC * tanhC)
                        let row = b * width
                        stepGradient[row + j] = dcTotal * candidate * i * (1 - i)
                        stepGradient[row + hidden + j] = dcTotal * saved.cells[previousIndex + j] * f * (1 - f)
                        stepGradient[row + 2 * hidden + j] = dcTotal * i * (1 - candidate * candidate)
                        stepGradient[row + 3 * hidden + j] = dhTotal * tanhC * o * (1 - o)
                        dc[b * hidden + j] = dcTotal * f
                        previousHiddens[(b * time + t) * hidden + j] = saved.hiddens[previousIndex + j]
                    }
                    for column in 0..<width { dGates[(b * time + t) * width + column] = stepGradient[b * width + column] }
                }
                // dh_{t-1} = dGates_t · W_hh
                if hidden > 0 {
                    stepGradient.withUnsafeBufferPointer { s in dh.withUnsafeMutableBufferPointer { d in
                        BLAS.gemm(transposeA: false, transposeB: false, m: batch, n: hidden, k: width, s.baseAddress!, lda: width, w,
                                  ldb: hidden, beta: 0, d.baseAddress!, ldc: hidden)
                    } }
                }
            }
        } }
        return recurrentWeightGradients(x, state, weightIH, weightHH, biasIH, biasHH, g, dGates: dGates, recurrentGates: dGates,
                                        previousHiddens: previousHiddens, dh: dh, dc: dc)
    })
}

/// The gradients every fused recurrent layer ends with: the input's and the weights' from the per-step gate
/// gradients (input side `dGates`, recurrent side `recurrentGates`, both [batch·time, gates·hidden]).
func recurrentWeightGradients(_ x: DTensor, _ state: RecurrentState, _ weightIH: DTensor, _ weightHH: DTensor, _ biasIH: DTensor,
                              _ biasHH: DTensor, _ g: RecurrentGeometry, dGates: [Float], recurrentGates: [Float],
                              previousHiddens: [Float], dh: [Float], dc: [Float]?)
    -> (DTensor, RecurrentState.TangentVector, DTensor, DTensor, DTensor, DTensor)
{
    let rows = g.batch * g.time, width = g.width
    func product(_ transposeA: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ lda: Int, _ b: DTensor, _ ldb: Int, _ transposeB: Bool)
        -> [Float]
    {
        var result = [Float](repeating: 0, count: m * n)
        guard m > 0, n > 0, k > 0 else { return result }
        a.withUnsafeBufferPointer { pa in b.withPointer { pb in result.withUnsafeMutableBufferPointer { out in
            BLAS.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, pa.baseAddress!, lda: lda, pb, ldb: ldb,
                      beta: 0, out.baseAddress!, ldc: n)
        } } }
        return result
    }
    let dx = x.isConstant ? DTensor.zero
        : x.deliver(DTensor(shape: x.shape, values: product(false, rows, g.inputs, width, dGates, width, weightIH, g.inputs, false)))
    let dWeightIH = weightIH.deliver(DTensor(shape: weightIH.shape, values: product(true, width, g.inputs, rows, dGates, width, x, g.inputs, false)))
    let hiddenStates = DTensor(shape: [rows, g.hidden], values: previousHiddens)
    let dWeightHH = weightHH.deliver(DTensor(shape: weightHH.shape,
                                             values: product(true, width, g.hidden, rows, recurrentGates, width, hiddenStates, g.hidden, false)))
    var dBiasIH = [Float](repeating: 0, count: width), dBiasHH = [Float](repeating: 0, count: width)
    for row in 0..<rows {
        for column in 0..<width {
            dBiasIH[column] += dGates[row * width + column]
            dBiasHH[column] += recurrentGates[row * width + column]
        }
    }
    let dState = RecurrentState.TangentVector(hidden: state.hidden.deliver(DTensor(shape: [g.batch, g.hidden], values: dh)),
                                              cell: dc.map { state.cell.deliver(DTensor(shape: [g.batch, g.hidden], values: $0)) } ?? .zero)
    return (dx, dState, dWeightIH, dWeightHH, biasIH.deliver(DTensor(shape: biasIH.shape, values: dBiasIH)),
            biasHH.deliver(DTensor(shape: biasHH.shape, values: dBiasHH)))
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
        ensure(inputs > 0 && hidden > 0, "LSTM needs positive sizes, got \(inputs) → \(hidden)")
        let bound = 1 / Float(hidden).squareRoot()
        weightIH = .uniformParameter([4 * hidden, inputs], bound: bound, random: &random)
        weightHH = .uniformParameter([4 * hidden, hidden], bound: bound, random: &random)
        biasIH = .uniformParameter([4 * hidden], bound: bound, random: &random)
        biasHH = .uniformParameter([4 * hidden], bound: bound, random: &random)
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

    /// Runs `x` [batch, time, inputs] from the zero state.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> RecurrentOutput {
        callAsFunction(x, state: zeroState(batch: withoutDerivative(at: x.shape.first ?? 0)))
    }
}
