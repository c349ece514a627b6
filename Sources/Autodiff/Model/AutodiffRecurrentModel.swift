import NeuralNet
import _Differentiation

/// A sequence model written as differentiable Swift that carries a state between calls (an LSTM language model
/// trained with truncated backpropagation through time).
public protocol RecurrentDifferentiableModel: Differentiable {
    /// The outputs of every step of `x` [batch, time, ...] from `state`, and the state after the last step.
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor, state: RecurrentState) -> RecurrentOutput
    /// The state a sequence starts from.
    func zeroState(batch: Int) -> RecurrentState
}

/// Runs a `RecurrentDifferentiableModel` as a library `Model` whose forward pass starts from `carriedState` and
/// leaves the final state there, detached: the truncated-BPTT trainer's model. Shapes are per time step:
/// `inputShape` [1] (one token id per step; a batch is [batch, time]) and `outputShape` [classes] (a batch's output
/// is [batch, time, classes]).
public final class AutodiffRecurrentModel<Wrapped: RecurrentDifferentiableModel>: Model, RecurrentStateModel, ReplicableModel {
    /// The differentiable model.
    public let model: Wrapped
    /// The parameters and gradients (a replica's views the model's parameters and has gradients of its own).
    public let arena: ParameterArena
    public let inputShape: [Int]
    public let outputShape: [Int]
    /// The parameter paths, in arena order.
    public var parameterNames: [String] { binding.parameterNames }
    /// The state the next forward pass starts from ([hidden, cell] for an LSTM); empty: the model's zero state.
    public var carriedState: [Tensor] = []
    private let binding: ParameterBinding
    private var pullback: ((RecurrentOutput.TangentVector) -> Wrapped.TangentVector)?
    private var lastShape: [Int] = []
    private var lastContext = LayerContext(training: false, randomKey: 0)

    /// Binds `model`'s parameters to a new arena; `outputShape` is one step's output ([vocabulary]).
    public init(_ model: Wrapped, outputShape: [Int]) throws {
        self.model = model
        inputShape = [1]
        self.outputShape = outputShape
        binding = try ParameterBinding(model)
        arena = binding.arena
    }

    /// A replica of `original`: its parameters, its own pass, carried state and gradients.
    private init(replicaOf original: AutodiffRecurrentModel, arena: ParameterArena) {
        model = original.model
        inputShape = original.inputShape
        outputShape = original.outputShape
        binding = original.binding
        self.arena = arena
    }

    /// A replica for another micro-batch (other sequences) of the same step; nil for a model with buffers.
    public func makeReplica() -> (any Model)? {
        binding.replicaArena().map { AutodiffRecurrentModel(replicaOf: self, arena: $0) }
    }

    /// The state to start from for a batch of `batch` sequences.
    private func startState(batch: Int) throws -> RecurrentState {
        let zero = model.zeroState(batch: batch)
        guard !carriedState.isEmpty else { return zero }
        let parts = [zero.hidden, zero.cell].filter { !$0.isZeroTangent }
        guard carriedState.count == parts.count, zip(carriedState, parts).allSatisfy({ $0.shape == $1.shape }) else {
            throw ModelError.badInput(expected: parts.first?.shape ?? [], found: carriedState.first?.shape ?? [])
        }
        return RecurrentState(
            hidden: DTensor(constant: carriedState[0].shape, values: carriedState[0].values),
            cell: carriedState.count > 1 ? DTensor(constant: carriedState[1].shape, values: carriedState[1].values) : .zero)
    }

    public func forward(_ input: Tensor, context: LayerContext) throws -> Tensor {
        guard input.shape.count >= 2, input.rows > 0, input.shape[1] > 0 else {
            throw ModelError.badInput(expected: [-1] + inputShape, found: input.shape)
        }
        let (batch, time) = (input.shape[0], input.shape[1])
        let x = DTensor(constant: [batch, time], values: input.values)
        let state = try startState(batch: batch)
        let (output, pullback) = try AutodiffContext.with(context) {
            valueWithPullback(at: model) { model in model(x, state: state) }
        }
        let expected = [batch, time] + outputShape
        guard output.output.count == expected.reduce(1, *) else {
            throw ModelError.badOutput(expected: expected, found: output.output.shape)
        }
        carriedState = [output.state.hidden, output.state.cell].filter { !$0.isZeroTangent }.map(\.tensor)
        self.pullback = pullback
        lastShape = expected
        lastContext = context
        return Tensor(shape: expected, values: output.output.values)
    }

    public func backward(_ outputGradient: Tensor, accumulate: Bool, progress: ((Int) -> Void)?) throws {
        guard let pullback else { throw ModelError.backwardBeforeForward }
        guard outputGradient.count == lastShape.reduce(1, *), outputGradient.rows == lastShape[0] else {
            throw ModelError.badOutputGradient(expected: lastShape, found: outputGradient.shape)
        }
        // Truncation: nothing flows back from the final state (the next chunk starts from it detached).
        let seed = RecurrentOutput.TangentVector(
            output: DTensor(shape: lastShape, values: outputGradient.values),
            state: RecurrentState.TangentVector(hidden: .zero, cell: .zero))
        try binding.backward(context: lastContext, gradients: arena.gradientsAndSpare.baseAddress!, accumulate: accumulate) {
            pullback(seed)
        }
    }
}
