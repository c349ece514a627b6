import NeuralNet
import _Differentiation

/// The state a recurrent layer carries between time steps (and between truncated-BPTT chunks): the hidden state
/// [batch, hidden] and, for an LSTM, the cell state [batch, hidden] (empty for a GRU).
public struct RecurrentState: Differentiable {
    /// [batch, hidden].
    public var hidden: DTensor
    /// [batch, hidden] for an LSTM; empty for a GRU.
    public var cell: DTensor

    /// A state of the given tensors.
    @differentiable(reverse)
    public init(hidden: DTensor, cell: DTensor) {
        self.hidden = hidden
        self.cell = cell
    }

    /// Zeros for `batch` sequences of `hidden` features (with a cell state when `cell`).
    public init(batch: Int, hidden: Int, cell: Bool) {
        self.hidden = DTensor(shape: [batch, hidden], repeating: 0)
        self.cell = cell ? DTensor(shape: [batch, hidden], repeating: 0) : .zero
    }

    /// The same values with no gradient path to the past (truncated backpropagation through time).
    public var detached: RecurrentState {
        RecurrentState(hidden: DTensor(shape: hidden.shape, values: hidden.values), cell: DTensor(shape: cell.shape, values: cell.values))
    }
}

/// A recurrent layer's result: every step's hidden state [batch, time, hidden] and the final state.
public struct RecurrentOutput: Differentiable {
    /// [batch, time, hidden].
    public var output: DTensor
    /// The state after the last step.
    public var state: RecurrentState

    @differentiable(reverse)
    public init(output: DTensor, state: RecurrentState) {
        self.output = output
        self.state = state
    }
}

/// The shapes of a recurrent layer's input and weights: [batch, time, inputs], `gates` blocks of `hidden`.
struct RecurrentGeometry {
    let batch: Int, time: Int, inputs: Int, hidden: Int, gates: Int
    var width: Int { gates * hidden }

    init(
        _ x: DTensor, _ state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor,
        gates: Int, cell: Bool, _ name: String
    ) {
        ensure(x.rank == 3, "\(name): input \(x.shape) is not [batch, time, features]")
        self.init(
            batch: x.shape[0], time: x.shape[1], inputs: x.shape[2], state, weightIH: weightIH, weightHH: weightHH, biasIH: biasIH,
            biasHH: biasHH, gates: gates, cell: cell, name)
    }

    /// The geometry of an input of [batch, time, inputs] (given by its sizes: token ids whose embeddings are the input).
    init(
        batch: Int, time: Int, inputs: Int, _ state: RecurrentState, weightIH: DTensor, weightHH: DTensor, biasIH: DTensor,
        biasHH: DTensor, gates: Int, cell: Bool, _ name: String
    ) {
        (self.batch, self.time, self.inputs) = (batch, time, inputs)
        hidden = weightHH.shape.last ?? 0
        self.gates = gates
        ensure(
            weightIH.shape == [gates * hidden, inputs] && weightHH.shape == [gates * hidden, hidden]
                && biasIH.count == gates * hidden && biasHH.count == gates * hidden,
            "\(name): weights \(weightIH.shape), \(weightHH.shape) do not fit input [\(batch), \(time), \(inputs)] and hidden size \(hidden)")
        ensure(
            state.hidden.shape == [batch, hidden] && (!cell || state.cell.shape == [batch, hidden]),
            "\(name): state \(state.hidden.shape)/\(state.cell.shape) is not [\(batch), \(hidden)]")
    }
}

/// The weights of a recurrent layer of `gates` gates (PyTorch's layout and initialisation U(-1/√hidden, 1/√hidden)):
/// [gates·hidden, inputs], [gates·hidden, hidden] and two biases of gates·hidden.
func recurrentWeights(gates: Int, inputs: Int, hidden: Int, _ name: String, random: inout CounterRandom)
    -> (weightIH: DTensor, weightHH: DTensor, biasIH: DTensor, biasHH: DTensor)
{
    ensure(inputs > 0 && hidden > 0, "\(name) needs positive sizes, got \(inputs) → \(hidden)")
    let bound = 1 / Float(hidden).squareRoot()
    return (
        .uniformParameter([gates * hidden, inputs], bound: bound, random: &random),
        .uniformParameter([gates * hidden, hidden], bound: bound, random: &random),
        .uniformParameter([gates * hidden], bound: bound, random: &random),
        .uniformParameter([gates * hidden], bound: bound, random: &random)
    )
}
