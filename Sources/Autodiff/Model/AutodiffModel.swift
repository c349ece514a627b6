import _Differentiation
import NeuralNet

/// Runs a `DifferentiableModel` as a library `Model`: its parameters move into one flat arena, named by their
/// property paths (`block1.weight`), and the compiler's pullback writes their gradients in the same layout. So
/// the supervised factories, optimizers, `DataParallel` and checkpoints work with it unchanged. Its buffers
/// (`ModelBuffer`, e.g. running statistics) join the arena's buffers.
///
/// Every parameter gets its gradient: the library's operations add theirs into the arena directly, and a
/// gradient a user's own `@derivative(of:)` returns for a parameter is added from the pullback's tangent. A
/// parameter that received none on the first step fails the step with `ModelError.parameterWithoutGradient`.
public final class AutodiffModel<Wrapped: DifferentiableModel>: Model, ReplicaStatisticsModel {
    /// The differentiable model.
    public let model: Wrapped
    public let arena: ParameterArena
    public let inputShape: [Int]
    public let outputShape: [Int]
    /// The parameter paths, in arena order.
    public let parameterNames: [String]
    /// Sums batch statistics over every data-parallel replica (set by `DataParallel` for synchronized batch norm);
    /// nil: each replica uses its own batch.
    public var replicaSum: (([Double]) throws -> [Double])?
    private var pullback: ((DTensor) -> Wrapped.TangentVector)?
    private var lastBatch = 0
    private var lastContext = LayerContext(training: false, randomKey: 0)
    private var slots: [ParameterSlot] = []
    private var checkedGradients = false

    /// Binds `model`'s parameters and buffers to a new arena (their current values become the arena's).
    /// - Throws: `ModelError.sharedParameter` when a parameter or buffer is reached by two paths (or already bound).
    public init(_ model: Wrapped, inputShape: [Int], outputShape: [Int]) throws {
        var leaves: [(name: String, tensor: DTensor)] = []
        var buffers: [(name: String, buffer: ModelBuffer)] = []
        Self.collect(model, path: "", into: &leaves, buffers: &buffers)
        self.model = model
        self.inputShape = inputShape
        self.outputShape = outputShape
        parameterNames = leaves.map(\.name)
        arena = ParameterArena(layout: leaves.map { ($0.name, $0.tensor.shape) }, buffers: buffers.map { ($0.name, $0.buffer.shape) })
        for (leaf, entry) in zip(leaves, arena.entries) {
            guard let slot = leaf.tensor.slot, slot.arena == nil else { throw ModelError.sharedParameter(name: leaf.name) }
            try arena.setParameter(named: entry.name, to: Tensor(shape: leaf.tensor.shape, values: leaf.tensor.storage))
            slot.arena = arena
            slot.entry = entry
            slots.append(slot)
        }
        for (leaf, entry) in zip(buffers, arena.bufferEntries) {
            guard leaf.buffer.arena == nil else { throw ModelError.sharedParameter(name: leaf.name) }
            try arena.setBuffer(named: entry.name, to: Tensor(shape: leaf.buffer.shape, values: leaf.buffer.initialValues))
            leaf.buffer.arena = arena
            leaf.buffer.entry = entry
        }
        Self.keepLargeBuffersInTheHeap()
    }

    /// Every operation allocates its result: with glibc's defaults, buffers over 128 KiB are mapped and unmapped
    /// at each step (page faults dominate a step). Keeping them in the heap makes that a reuse.
    static func keepLargeBuffersInTheHeap() {
        Kernels.keepLargeBuffersInTheHeap()
    }

    /// Every parameter `DTensor` and `ModelBuffer` reachable from `value`, with its dotted property path.
    static func collect(_ value: Any, path: String, into leaves: inout [(name: String, tensor: DTensor)],
                        buffers: inout [(name: String, buffer: ModelBuffer)]) {
        if let tensor = value as? DTensor {
            if tensor.slot != nil { leaves.append((path, tensor)) }
            return
        }
        if let buffer = value as? ModelBuffer {
            buffers.append((path, buffer))
            return
        }
        for (index, child) in Mirror(reflecting: value).children.enumerated() {
            let label = child.label ?? String(index)
            collect(child.value, path: path.isEmpty ? label : "\(path).\(label)", into: &leaves, buffers: &buffers)
        }
    }

    /// The tangent leaves of a gradient, by the same paths (zero tangents are empty).
    static func tangents(_ value: Any, path: String, into result: inout [String: DTensor]) {
        if let tensor = value as? DTensor {
            result[path] = tensor
            return
        }
        let mirror = Mirror(reflecting: value)
        for (index, child) in mirror.children.enumerated() {
            let label = child.label ?? String(index)
            // Array.DifferentiableView keeps its elements under `base`: look through it.
            if label == "base" || label == "_base" {
                tangents(child.value, path: path, into: &result)
                continue
            }
            tangents(child.value, path: path.isEmpty ? label : "\(path).\(label)", into: &result)
        }
    }

    public func forward(_ input: Tensor, context: LayerContext) throws -> Tensor {
        guard input.shape.count >= 1, input.rows > 0, Array(input.shape.dropFirst()).reduce(1, *) == inputShape.reduce(1, *) else {
            throw ModelError.badInput(expected: inputShape, found: input.shape)
        }
        let x = DTensor(constant: [input.rows] + inputShape, values: input.values)
        let (output, pullback) = try AutodiffContext.with(context, replicaSum: replicaSum) {
            valueWithPullback(at: model) { model in model(x) }
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
        if !accumulate { arena.zeroGradients() }
        // The operations' pullbacks add each parameter's gradient into the arena as they run.
        for slot in slots {
            slot.deliversToArena = true
            slot.received = false
        }
        defer { for slot in slots { slot.deliversToArena = false } }
        let tangent = try AutodiffContext.with(lastContext, replicaSum: replicaSum) {
            pullback(DTensor(shape: [lastBatch, outputShape.reduce(1, *)], values: outputGradient.values))
        }
        try addReturnedGradients(tangent)
        if !checkedGradients {
            if let missing = slots.firstIndex(where: { !$0.received }) {
                throw ModelError.parameterWithoutGradient(name: parameterNames[missing])
            }
            checkedGradients = true
        }
    }

    /// Adds the gradients that reached the model's tangent instead of the arena: those of parameters passed to a
    /// user's own differentiable operation.
    private func addReturnedGradients(_ tangent: Wrapped.TangentVector) throws {
        var leaves: [String: DTensor] = [:]
        Self.tangents(tangent, path: "", into: &leaves)
        for (index, entry) in arena.entries.enumerated() {
            guard let gradient = leaves[entry.name], !gradient.isZeroTangent else { continue }
            guard gradient.count == entry.count else {
                throw ParameterError.shapeMismatch(name: entry.name, expected: entry.shape, found: gradient.shape)
            }
            try arena.setGradient(named: entry.name, to: Tensor(shape: entry.shape, values: gradient.values), accumulate: true)
            slots[index].received = true
        }
    }
}
