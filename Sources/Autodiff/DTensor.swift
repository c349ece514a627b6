import _Differentiation
import NeuralNet

/// Where a model parameter's values live once its model is bound to an arena; nil before.
public final class ParameterSlot {
    var arena: ParameterArena?
    var entry: ParameterEntry?
    /// While `AutodiffModel.backward` runs: the pullbacks add this parameter's gradient straight into the arena's
    /// gradient buffer (and hand back a zero tangent), so no tangent needs walking afterwards.
    var deliversToArena = false
    init() {}
}

extension DTensor {
    /// `gradient` for this tensor: added into the arena for a parameter whose model is running backward (the
    /// zero tangent is returned then), else returned as it is.
    func deliver(_ gradient: DTensor) -> DTensor {
        guard let slot, slot.deliversToArena, let arena = slot.arena, let entry = slot.entry else { return gradient }
        gradient.withValues { values in
            arena.withUnsafeMutableBuffers { _, gradients in
                let target = UnsafeMutableBufferPointer(rebasing: gradients[entry.range])
                for index in 0..<Swift.min(values.count, target.count) { target[index] += values[index] }
            }
        }
        return .zero
    }
}

/// A differentiable tensor: a shape and Float32 values with value semantics, whose operations carry derivatives
/// registered with `@derivative(of:)` (matrix products on OpenBLAS), so that Swift's compiler differentiates
/// any model written with them.
///
/// A model's parameters are made with `DTensor(parameterShape:values:)`; `AutodiffModel` then moves their values
/// into its flat `ParameterArena`, where optimizers, data parallelism and checkpoints find them.
public struct DTensor: Differentiable, AdditiveArithmetic, CustomStringConvertible {
    public typealias TangentVector = DTensor
    /// The dimensions, outermost first (the batch first for activations).
    public var shape: [Int]
    var storage: [Float]
    /// Set on parameters: the arena place the values are read from once bound.
    let slot: ParameterSlot?
    /// A model's input: nothing asks for its gradient, so pullbacks skip computing it.
    var isConstant = false

    /// A tensor of `shape` holding `values`.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        storage = values
        slot = nil
    }

    /// A model parameter of `shape` with initial `values`, later bound to its model's arena.
    public init(parameterShape shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        storage = values
        slot = ParameterSlot()
    }

    /// A tensor whose gradient is never needed (a batch of inputs): operations skip computing it.
    public init(constant shape: [Int], values: [Float]) {
        self.init(shape: shape, values: values)
        isConstant = true
    }

    /// The bound parameter's gradient view in the arena while its model runs backward; nil otherwise.
    var arenaGradientDestination: (ParameterArena, ParameterEntry)? {
        guard let slot, slot.deliversToArena, let arena = slot.arena, let entry = slot.entry else { return nil }
        return (arena, entry)
    }

    /// A tensor holding a `Tensor`'s values.
    public init(_ tensor: Tensor) { self.init(shape: tensor.shape, values: tensor.values) }

    /// The values, from the arena for a bound parameter.
    public var values: [Float] {
        guard slot?.arena != nil else { return storage }
        return withValues { Array($0) }
    }

    /// Runs `body` on the values without copying them (a bound parameter's view of the arena).
    func withValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if let slot, let arena = slot.arena, let entry = slot.entry {
            return try arena.withUnsafeMutableBuffers { parameters, _ in
                try body(UnsafeBufferPointer(rebasing: parameters[entry.range]))
            }
        }
        return try storage.withUnsafeBufferPointer(body)
    }

    /// Number of values.
    public var count: Int { shape.reduce(1, *) }

    /// The values as a `Tensor`.
    public var tensor: Tensor { Tensor(shape: shape, values: values) }

    public var description: String { "DTensor(\(shape))" }

    // MARK: AdditiveArithmetic (the zero tangent is empty and adds as zero)

    public static var zero: DTensor { DTensor(shape: [0], values: []) }

    /// The element-wise sum; a tensor whose size is the other's last dimension (a bias) is added to every row.
    public static func + (lhs: DTensor, rhs: DTensor) -> DTensor {
        if lhs.storage.isEmpty && lhs.slot == nil { return rhs.detached }
        if rhs.storage.isEmpty && rhs.slot == nil { return lhs.detached }
        if lhs.count != rhs.count, let (rows, row) = broadcastRows(lhs, rhs) {
            return rows.withValues { a in row.withValues { b in
                DTensor(shape: rows.shape, values: (0..<a.count).map { a[$0] + b[$0 % b.count] })
            } }
        }
        precondition(lhs.count == rhs.count, "adding tensors of shapes \(lhs.shape) and \(rhs.shape)")
        return lhs.withValues { a in rhs.withValues { b in
            DTensor(shape: lhs.shape, values: [Float](unsafeUninitializedCapacity: a.count) { sum, initialized in
                if a.count > 0 {
                    sum.baseAddress!.update(from: b.baseAddress!, count: a.count)
                    Kernels.add(a.baseAddress!, to: sum.baseAddress!, count: a.count)
                }
                initialized = a.count
            })
        } }
    }

    /// The larger tensor and the one broadcast over its rows, when one's size is the other's last dimension.
    static func broadcastRows(_ a: DTensor, _ b: DTensor) -> (rows: DTensor, row: DTensor)? {
        if b.count > 0, b.count == a.shape.last, a.count % b.count == 0 { return (a, b) }
        if a.count > 0, a.count == b.shape.last, b.count % a.count == 0 { return (b, a) }
        return nil
    }

    /// The gradient `g` of a broadcast sum reduced to the shape of `like` (rows summed for a broadcast bias).
    static func reduce(_ g: DTensor, like tensor: DTensor) -> DTensor {
        guard g.count != tensor.count, tensor.count > 0 else { return g }
        return g.withValues { values in
            var sums = [Float](repeating: 0, count: tensor.count)
            for index in 0..<values.count { sums[index % tensor.count] += values[index] }
            return DTensor(shape: tensor.shape, values: sums)
        }
    }

    public static func - (lhs: DTensor, rhs: DTensor) -> DTensor { lhs + rhs.scaled(by: -1) }

    public mutating func move(by offset: DTensor) { self = self + offset }

    @derivative(of: +)
    public static func vjpAdd(_ lhs: DTensor, _ rhs: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
        (lhs + rhs, { (lhs.deliver(reduce($0, like: lhs)), rhs.deliver(reduce($0, like: rhs))) })
    }

    @derivative(of: -)
    public static func vjpSubtract(_ lhs: DTensor, _ rhs: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
        (lhs - rhs, { (lhs.deliver(reduce($0, like: lhs)), rhs.deliver(reduce($0.scaled(by: -1), like: rhs))) })
    }

    /// The values without the parameter binding (a plain value).
    var detached: DTensor { slot == nil ? self : DTensor(shape: shape, values: values) }

    /// Every value times `factor` (not differentiable: for tangents).
    func scaled(by factor: Float) -> DTensor {
        withValues { DTensor(shape: shape, values: $0.map { $0 * factor }) }
    }

    public static func == (lhs: DTensor, rhs: DTensor) -> Bool { lhs.shape == rhs.shape && lhs.values == rhs.values }
}
