import Foundation
import NeuralNet
import _Differentiation

/// What the GRU's backward pass needs from its forward pass, per step.
struct GRUSaved {
    /// [time, batch, 3·hidden]: r, z, n after their activations.
    var gates: [Float]
    /// [time, batch, hidden]: W_hn·h + b_hn, before the reset gate multiplies it.
    var recurrentCandidate: [Float]
    /// [time + 1, batch, hidden]: the hidden state before each step and after the last.
    var hiddens: [Float]
}

/// A one-layer GRU over a batch of sequences (PyTorch's `GRU(batch_first=True)`, gates r, z, n):
/// `x` [batch, time, inputs] from `state` (its cell unused) → every step's hidden state and the final state.
@differentiable(reverse,wrt: (x, state, weightIH, weightHH, biasIH, biasHH))
public func gru(_ x: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor)
    -> RecurrentOutput
{
    let g = RecurrentGeometry(x, state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 3, cell: false, "gru")
    return gruForward(x, state, weightIH, weightHH, biasIH, biasHH, g).output
}

func gruForward(
    _ x: DTensor, _ state: RecurrentState, _ weightIH: DTensor, _ weightHH: DTensor, _ biasIH: DTensor, _ biasHH: DTensor,
    _ g: RecurrentGeometry
) -> (output: RecurrentOutput, saved: GRUSaved) {
    let (batch, time, hidden, width) = (g.batch, g.time, g.hidden, g.width)
    let projected = inputProjection(x, weightIH, biasIH.values, g)
    var saved = GRUSaved(
        gates: [Float](repeating: 0, count: time * batch * width),
        recurrentCandidate: [Float](repeating: 0, count: time * batch * hidden),
        hiddens: [Float](repeating: 0, count: (time + 1) * batch * hidden))
    saved.hiddens.replaceSubrange(0..<(batch * hidden), with: state.hidden.values)
    var output = [Float](repeating: 0, count: batch * time * hidden)
    var recurrent = [Float](repeating: 0, count: batch * width)
    let recurrentBias = biasHH.values
    weightHH.withPointer { w in
        saved.hiddens.withUnsafeMutableBufferPointer { hiddens in
            for t in 0..<time {
                let previous = hiddens.baseAddress! + t * batch * hidden
                recurrent.withUnsafeMutableBufferPointer { r in
                    recurrentBias.withUnsafeBufferPointer { Kernels.broadcastRows($0.baseAddress!, r.baseAddress!, rows: batch, width: width) }
                    BLAS.gemm(
                        transposeA: false, transposeB: true, m: batch, n: width, k: hidden, previous, lda: hidden, w, ldb: hidden,
                        beta: 1, r.baseAddress!, ldc: width)
                }
                let next = hiddens.baseAddress! + (t + 1) * batch * hidden
                for b in 0..<batch {
                    let input = (b * time + t) * width
                    let gates = (t * batch + b) * width
                    let row = b * width
                    for j in 0..<hidden {
                        let r = logistic(projected[input + j] + recurrent[row + j])
                        let z = logistic(projected[input + hidden + j] + recurrent[row + hidden + j])
                        let candidate = recurrent[row + 2 * hidden + j]
                        let n = Foundation.tanh(projected[input + 2 * hidden + j] + r * candidate)
                        (saved.gates[gates + j], saved.gates[gates + hidden + j], saved.gates[gates + 2 * hidden + j]) = (r, z, n)
                        saved.recurrentCandidate[(t * batch + b) * hidden + j] = candidate
                        let h = (1 - z) * n + z * previous[b * hidden + j]
                        next[b * hidden + j] = h
                        output[(b * time + t) * hidden + j] = h
                    }
                }
            }
        }
    }
    let last = time * batch * hidden
    let final = RecurrentState(
        hidden: DTensor(shape: [batch, hidden], values: Array(saved.hiddens[last..<(last + batch * hidden)])),
        cell: .zero)
    return (RecurrentOutput(output: DTensor(shape: [batch, time, hidden], values: output), state: final), saved)
}

/// The derivative of `gRU`: its value and pullback, registered for `_Differentiation`.
@derivative(of: gru, wrt: (x, state, weightIH, weightHH, biasIH, biasHH))
public func vjpGRU(_ x: DTensor, state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor)
    -> (
        value: RecurrentOutput,
        pullback: (RecurrentOutput.TangentVector) -> (DTensor, RecurrentState.TangentVector, DTensor, DTensor, DTensor, DTensor)
    )
{
    let g = RecurrentGeometry(x, state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH, gates: 3, cell: false, "gru")
    let (value, saved) = gruForward(x, state, weightIH, weightHH, biasIH, biasHH, g)
    return (
        value,
        { tangent in
            let (batch, time, hidden, width) = (g.batch, g.time, g.hidden, g.width)
            let dOutput = tangent.output.orZeros([batch, time, hidden])
            var dh = tangent.state.hidden.orZeros([batch, hidden]).values
            var dInputGates = [Float](repeating: 0, count: batch * time * width)
            var dRecurrentGates = [Float](repeating: 0, count: batch * time * width)
            var step = [Float](repeating: 0, count: batch * width)
            var previousHiddens = [Float](repeating: 0, count: batch * time * hidden)
            var direct = [Float](repeating: 0, count: batch * hidden)
            weightHH.withPointer { w in
                dOutput.withPointer { dOut in
                    for t in stride(from: time - 1, through: 0, by: -1) {
                        for b in 0..<batch {
                            let gates = (t * batch + b) * width
                            let previousIndex = (t * batch + b) * hidden
                            let row = (b * time + t) * width
                            for j in 0..<hidden {
                                let r = saved.gates[gates + j]
                                let z = saved.gates[gates + hidden + j]
                                let n = saved.gates[gates + 2 * hidden + j]
                                let previous = saved.hiddens[previousIndex + j]
                                let dhTotal = dh[b * hidden + j] + dOut[(b * time + t) * hidden + j]
                                let dnPre = dhTotal * (1 - z) * (1 - n * n)
                                let drPre = dnPre * saved.recurrentCandidate[(t * batch + b) * hidden + j] * r * (1 - r)
                                let dzPre = dhTotal * (previous - n) * z * (1 - z)
                                (dInputGates[row + j], dInputGates[row + hidden + j], dInputGates[row + 2 * hidden + j]) = (drPre, dzPre, dnPre)
                                let recurrentN = dnPre * r
                                (dRecurrentGates[row + j], dRecurrentGates[row + hidden + j], dRecurrentGates[row + 2 * hidden + j]) = (
                                    drPre, dzPre, recurrentN
                                )
                                (step[b * width + j], step[b * width + hidden + j], step[b * width + 2 * hidden + j]) = (drPre, dzPre, recurrentN)
                                direct[b * hidden + j] = dhTotal * z
                                previousHiddens[(b * time + t) * hidden + j] = previous
                            }
                        }
                        // dh_{t-1} = dRecurrentGates_t · W_hh + dh·z
                        step.withUnsafeBufferPointer { s in
                            dh.withUnsafeMutableBufferPointer { d in
                                d.baseAddress!.update(from: direct, count: batch * hidden)
                                BLAS.gemm(
                                    transposeA: false, transposeB: false, m: batch, n: hidden, k: width, s.baseAddress!, lda: width, w,
                                    ldb: hidden, beta: 1, d.baseAddress!, ldc: hidden)
                            }
                        }
                    }
                }
            }
            return recurrentWeightGradients(
                x, state, weightIH, weightHH, biasIH, biasHH, g, dGates: dInputGates, recurrentGates: dRecurrentGates,
                previousHiddens: previousHiddens, dh: dh, dc: nil)
        }
    )
}

/// A one-layer GRU (PyTorch's `GRU(inputs, hidden, batch_first=True)`, its initialisation U(-1/√hidden, 1/√hidden)).
public struct GRU: Differentiable {
    /// [3·hidden, inputs], gates r, z, n.
    public var weightIH: DTensor
    /// [3·hidden, hidden].
    public var weightHH: DTensor
    /// [3·hidden].
    public var biasIH: DTensor
    /// [3·hidden].
    public var biasHH: DTensor
    /// The hidden size.
    @noDerivative public let hiddenSize: Int

    /// A GRU from `inputs` features to `hidden` features.
    public init(inputs: Int, hidden: Int, random: inout CounterRandom) {
        (weightIH, weightHH, biasIH, biasHH) = recurrentWeights(gates: 3, inputs: inputs, hidden: hidden, "GRU", random: &random)
        hiddenSize = hidden
    }

    /// Zeros for `batch` sequences.
    @differentiable(reverse)
    public func zeroState(batch: Int) -> RecurrentState { RecurrentState(batch: batch, hidden: hiddenSize, cell: false) }

    /// Runs `x` [batch, time, inputs] from `state`.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor, state: RecurrentState) -> RecurrentOutput {
        gru(x, state: state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH, biasHH: biasHH)
    }

    /// Runs `x` [batch, time, inputs] from the zero state.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> RecurrentOutput {
        callAsFunction(x, state: zeroState(batch: withoutDerivative(at: x.shape.first ?? 0)))
    }
}
