import NeuralNet
import _Differentiation

/// Runs a `DifferentiableModel` as a library `Model`: its parameters move into one flat arena, named by their
/// property paths (`block1.weight`), and the compiler's pullback writes their gradients in the same layout. So
/// the supervised factories, optimizers, `DataParallel` and checkpoints work with it unchanged. Its buffers
/// (`ModelBuffer`, e.g. running statistics) join the arena's buffers.
///
/// Every parameter gets its gradient: the library's operations add theirs into the arena directly, and a
/// gradient a user's own `@derivative(of:)` returns for a parameter is added from the pullback's tangent. A
/// parameter that received none on the first step fails the step with `ModelError.parameterWithoutGradient`.
public final class AutodiffModel<Wrapped: DifferentiableModel>: Model, ReplicaStatisticsModel, DeferredStatisticsModel,
    ReplicableModel
{
    /// The differentiable model.
    public let model: Wrapped
    /// The parameters and gradients (a replica's views the model's parameters and has gradients of its own).
    public let arena: ParameterArena
    public let inputShape: [Int]
    public let outputShape: [Int]
    /// The parameter paths, in arena order.
    public var parameterNames: [String] { binding.parameterNames }
    /// Sums batch statistics over every data-parallel replica (set by `DataParallel` for synchronized batch norm);
    /// nil: each replica uses its own batch.
    public var replicaSum: (([Double]) throws -> [Double])?
    private let binding: ParameterBinding
    private var pullback: ((DTensor) -> Wrapped.TangentVector)?
    private var lastBatch = 0
    private var lastContext = LayerContext(training: false, randomKey: 0)
    /// Whether training forward passes record their batch statistics instead of moving the running ones.
    public var defersStatistics = false
    /// Recorded passes' statistics, flattened, and the buffer and momentum of each value block of a pass.
    private var recordedValues: [Float] = []
    private var recordLayout: [(buffer: ModelBuffer, count: Int, momentum: Float)]?

    /// Binds `model`'s parameters and buffers to a new arena (their current values become the arena's).
    /// - Throws: `ModelError.sharedParameter` when a parameter or buffer is reached by two paths (or already bound).
    public init(_ model: Wrapped, inputShape: [Int], outputShape: [Int]) throws {
        self.model = model
        self.inputShape = inputShape
        self.outputShape = outputShape
        binding = try ParameterBinding(model)
        arena = binding.arena
    }

    /// A replica of `original`: its parameters, its own pass and gradients.
    private init(replicaOf original: AutodiffModel, arena: ParameterArena) {
        model = original.model
        inputShape = original.inputShape
        outputShape = original.outputShape
        binding = original.binding
        self.arena = arena
    }

    /// A replica for another micro-batch of the same step; nil for a model with buffers (running statistics).
    public func makeReplica() -> (any Model)? {
        binding.replicaArena().map { AutodiffModel(replicaOf: self, arena: $0) }
    }

    public func forward(_ input: Tensor, context: LayerContext) throws -> Tensor {
        guard input.shape.count >= 1, input.rows > 0, Array(input.shape.dropFirst()).reduce(1, *) == inputShape.reduce(1, *) else {
            throw ModelError.badInput(expected: inputShape, found: input.shape)
        }
        let x = DTensor(constant: [input.rows] + inputShape, values: input.values)
        let recorder = defersStatistics && context.training ? AutodiffContext.Box(context) : nil
        recorder?.recorded = []
        let (output, pullback) = try AutodiffContext.with(context, replicaSum: replicaSum, recorder: recorder) {
            valueWithPullback(at: model) { model in model(x) }
        }
        if let recorded = recorder?.recorded, !recorded.isEmpty {
            let layout = recorded.map { ($0.buffer, $0.statistics.count, $0.momentum) }
            if recordLayout == nil { recordLayout = layout }
            recordedValues += recorded.flatMap(\.statistics)
        }
        let expected = [input.rows] + outputShape
        guard output.count == expected.reduce(1, *) else { throw ModelError.badOutput(expected: expected, found: output.shape) }
        self.pullback = pullback
        lastBatch = input.rows
        lastContext = context
        return Tensor(shape: expected, values: output.values)
    }

    public func backward(_ outputGradient: Tensor, accumulate: Bool, progress: ((Int) -> Void)?) throws {
        guard let pullback else { throw ModelError.backwardBeforeForward }
        let expected = [lastBatch] + outputShape
        guard outputGradient.shape == expected else { throw ModelError.badOutputGradient(expected: expected, found: outputGradient.shape) }
        // The operations' pullbacks add each parameter's gradient into the arena as they run.
        let seed = DTensor(shape: [lastBatch, outputShape.reduce(1, *)], values: outputGradient.values)
        try binding.backward(
            context: lastContext, replicaSum: replicaSum, gradients: arena.gradientsAndSpare.baseAddress!, accumulate: accumulate
        ) { pullback(seed) }
    }

    /// The batch statistics recorded since the last step, handed out once (virtual shards apply them in shard order).
    public func takeRecordedStatistics() -> [Float] {
        defer { recordedValues = [] }
        return recordedValues
    }

    /// Moves the running statistics by every shard's recorded statistics, in shard order.
    public func applyRecordedStatistics(_ values: [Float]) throws {
        guard let layout = recordLayout else {
            guard values.isEmpty else { throw ModelError.badInput(expected: [0], found: [values.count]) }
            return
        }
        let perPass = layout.reduce(0) { $0 + $1.count }
        guard perPass > 0, values.count % perPass == 0 else { throw ModelError.badInput(expected: [perPass], found: [values.count]) }
        var offset = 0
        while offset < values.count {
            for block in layout {
                block.buffer.move(toward: Array(values[offset..<(offset + block.count)]), momentum: block.momentum)
                offset += block.count
            }
        }
    }
}
