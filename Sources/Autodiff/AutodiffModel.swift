import _Differentiation
import NeuralNet

/// A model written as differentiable Swift: a struct of `DTensor` parameters (and of layers holding them) whose
/// `callAsFunction` the compiler differentiates.
///
/// ```swift
/// struct ResidualMLP: DifferentiableModel {
///     var input: Dense, block: Dense, head: Dense
///     @differentiable(reverse)
///     func callAsFunction(_ x: DTensor) -> DTensor {
///         let h = relu(input(x))
///         return head(h + relu(block(h)))
///     }
/// }
/// ```
public protocol DifferentiableModel: Differentiable {
    /// The output for a batch.
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor
}

/// A fully connected layer `x · Wᵀ + b` with PyTorch's initialisation, for differentiable models.
public struct Dense: Differentiable {
    /// [outputs, inputs].
    public var weight: DTensor
    /// [outputs].
    public var bias: DTensor

    /// A layer from `inputs` to `outputs` features, initialised from `random` (Kaiming-uniform bound 1/√inputs).
    public init(inputs: Int, outputs: Int, random: inout CounterRandom) {
        let bound = 1 / Float(inputs).squareRoot()
        weight = DTensor(parameterShape: [outputs, inputs],
                         values: (0..<(outputs * inputs)).map { _ in (random.nextUniform() * 2 - 1) * bound })
        bias = DTensor(parameterShape: [outputs], values: (0..<outputs).map { _ in (random.nextUniform() * 2 - 1) * bound })
    }

    /// The layer's output.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor { dense(x, weight: weight, bias: bias) }
}

/// Runs a `DifferentiableModel` as a library `Model`: its parameters move into one flat arena, named by their
/// property paths (`block1.weight`), and the compiler's pullback writes their gradients in the same layout. So
/// the supervised factories, optimizers, `DataParallel` and checkpoints work with it unchanged.
public final class AutodiffModel<Wrapped: DifferentiableModel>: Model {
    /// The differentiable model.
    public let model: Wrapped
    public let arena: ParameterArena
    public let inputShape: [Int]
    public let outputShape: [Int]
    /// The parameter paths, in arena order.
    public let parameterNames: [String]
    private var pullback: ((DTensor) -> Wrapped.TangentVector)?
    private var lastBatch = 0
    private var slots: [ParameterSlot] = []

    /// Binds `model`'s parameters to a new arena (their current values become the arena's).
    /// - Throws: `ModelError.badInput` when a parameter is shared (the same `DTensor` reached by two paths).
    public init(_ model: Wrapped, inputShape: [Int], outputShape: [Int]) throws {
        var leaves: [(name: String, tensor: DTensor)] = []
        Self.collect(model, path: "", into: &leaves)
        self.model = model
        self.inputShape = inputShape
        self.outputShape = outputShape
        parameterNames = leaves.map(\.name)
        arena = ParameterArena(layout: leaves.map { ($0.name, $0.tensor.shape) })
        for (leaf, entry) in zip(leaves, arena.entries) {
            guard let slot = leaf.tensor.slot, slot.arena == nil else {
                throw ModelError.badInput(expected: [], found: leaf.tensor.shape)
            }
            try arena.setParameter(named: entry.name, to: Tensor(shape: leaf.tensor.shape, values: leaf.tensor.storage))
            slot.arena = arena
            slot.entry = entry
            slots.append(slot)
        }
        Self.keepLargeBuffersInTheHeap()
    }

    /// Every operation allocates its result: with glibc's defaults, buffers over 128 KiB are mapped and unmapped
    /// at each step (page faults dominate a step). Keeping them in the heap makes that a reuse.
    static func keepLargeBuffersInTheHeap() {
        Kernels.keepLargeBuffersInTheHeap()
    }

    /// Every parameter `DTensor` reachable from `value`, with its dotted property path.
    static func collect(_ value: Any, path: String, into leaves: inout [(name: String, tensor: DTensor)]) {
        if let tensor = value as? DTensor {
            if tensor.slot != nil { leaves.append((path, tensor)) }
            return
        }
        for (index, child) in Mirror(reflecting: value).children.enumerated() {
            let label = child.label ?? String(index)
            collect(child.value, path: path.isEmpty ? label : "\(path).\(label)", into: &leaves)
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
        let (output, pullback) = AutodiffContext.with(context) { valueWithPullback(at: model) { model in model(x) } }
        self.pullback = pullback
        lastBatch = input.rows
        return Tensor(shape: [input.rows] + outputShape, values: output.values)
    }

    public func backward(_ outputGradient: Tensor, accumulate: Bool, progress: ((Int) -> Void)?) throws {
        guard let pullback else { throw ModelError.backwardBeforeForward }
        let expected = [lastBatch] + outputShape
        guard outputGradient.shape == expected else { throw ModelError.badOutputGradient(expected: expected, found: outputGradient.shape) }
        if !accumulate { arena.zeroGradients() }
        // The operations' pullbacks add each parameter's gradient into the arena as they run.
        for slot in slots { slot.deliversToArena = true }
        defer { for slot in slots { slot.deliversToArena = false } }
        _ = pullback(DTensor(shape: [lastBatch, outputShape.reduce(1, *)], values: outputGradient.values))
    }
}
