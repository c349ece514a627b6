import NeuralNet
import _Differentiation

/// A differentiable tensor: a shape and Float32 values with value semantics, whose operations carry derivatives
/// registered with `@derivative(of:)` (matrix products on OpenBLAS), so that Swift's compiler differentiates
/// any model written with them.
///
/// A model's parameters are made with `DTensor(parameterShape:values:)`; `AutodiffModel` then moves their values
/// into its flat `ParameterArena`, where optimizers, data parallelism and checkpoints find them.
public struct DTensor: Differentiable, AdditiveArithmetic, CustomStringConvertible {
    /// A tensor's derivative is a tensor of the same shape.
    public typealias TangentVector = DTensor
    /// The dimensions, outermost first (the batch first for activations). Carries no derivative: read it freely
    /// inside differentiable code.
    @noDerivative public var shape: [Int]
    var storage: [Float]
    /// Set on parameters: the arena place the values are read from once bound.
    let slot: ParameterSlot?
    /// A model's input: nothing asks for its gradient, so pullbacks skip computing it.
    var isConstant = false

    /// A tensor of `shape` holding `values`.
    public init(shape: [Int], values: [Float]) {
        ensure(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
            "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        storage = values
        slot = nil
    }

    /// A model parameter of `shape` with initial `values`, later bound to its model's arena.
    public init(parameterShape shape: [Int], values: [Float]) {
        ensure(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
            "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        storage = values
        slot = ParameterSlot()
    }

    /// A tensor whose gradient is never needed (a batch of inputs): operations skip computing it.
    public init(constant shape: [Int], values: [Float]) {
        self.init(shape: shape, values: values)
        isConstant = true
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, values: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor holding a `Tensor`'s values.
    public init(_ tensor: Tensor) { self.init(shape: tensor.shape, values: tensor.values) }

    /// A tensor of `shape` whose values `body` writes, every one of them (no zero-fill first).
    static func filled(_ shape: [Int], _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> DTensor {
        let count = shape.reduce(1, *)
        return DTensor(
            shape: shape,
            values: [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                body(buffer)
                initialized = count
            })
    }

    /// The values, from the arena for a bound parameter (no derivative: read them freely, e.g. as token indices).
    @noDerivative public var values: [Float] {
        guard slot?.arena != nil else { return storage }
        return withValues { Array($0) }
    }

    /// The values as whole numbers (token or class indices stored in a model's input), rounded toward zero.
    @noDerivative public var integerValues: [Int] { values.map { Int($0) } }

    /// Runs `body` on the values without copying them (a bound parameter's view of the arena).
    func withValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        if let slot, let arena = slot.arena, let entry = slot.entry {
            return try arena.withUnsafeMutableBuffers { parameters, _ in
                try body(UnsafeBufferPointer(rebasing: parameters[entry.range]))
            }
        }
        return try storage.withUnsafeBufferPointer(body)
    }

    /// Runs `body` on the first value's address (a valid address even for an empty tensor).
    func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withValues { buffer in
            if let base = buffer.baseAddress { return try body(base) }
            var none: Float = 0
            return try body(&none)
        }
    }

    /// Number of values.
    @noDerivative public var count: Int { shape.reduce(1, *) }

    /// Number of dimensions.
    @noDerivative public var rank: Int { shape.count }

    /// The values as a `Tensor`.
    @noDerivative public var tensor: Tensor { Tensor(shape: shape, values: values) }

    public var description: String { "DTensor(\(shape))" }

    /// The values without the parameter binding (a plain value).
    var detached: DTensor { slot == nil ? self : DTensor(shape: shape, values: values) }

    /// Every value times `factor` (not differentiable: for tangents).
    func scaled(by factor: Float) -> DTensor {
        withValues { DTensor(shape: shape, values: $0.map { $0 * factor }) }
    }

    /// This tangent, or zeros of `shape` when it is the empty zero tangent (a pullback's input for an unused output).
    func orZeros(_ shape: [Int]) -> DTensor { isZeroTangent ? DTensor(shape: shape, repeating: 0) : self }

    /// Whether this is the empty zero tangent (`DTensor.zero`) rather than a value.
    var isZeroTangent: Bool { storage.isEmpty && slot == nil && shape == [0] }

    // MARK: AdditiveArithmetic (the zero tangent is empty and adds as zero)

    /// The zero tangent: empty, and adds as zero to a tensor of any shape.
    public static var zero: DTensor { emptyZero }
    /// One shared zero (every parameter's pullback returns it: no allocation each time). Never mutated in place:
    /// a copy that changes gets its own storage (value semantics).
    nonisolated(unsafe) private static let emptyZero = DTensor(shape: [0], values: [])

    /// The element-wise sum, broadcasting as NumPy and PyTorch do (dimensions aligned from the last; a size-1 or
    /// missing dimension repeats).
    public static func + (lhs: DTensor, rhs: DTensor) -> DTensor {
        if lhs.isZeroTangent { return rhs.detached }
        if rhs.isZeroTangent { return lhs.detached }
        return broadcasting(lhs, rhs, .add)
    }

    /// The element-wise difference, broadcasting as `+` does.
    public static func - (lhs: DTensor, rhs: DTensor) -> DTensor {
        if rhs.isZeroTangent { return lhs.detached }
        if lhs.isZeroTangent { return rhs.scaled(by: -1) }
        return broadcasting(lhs, rhs, .subtract)
    }

    /// Adds `offset`: a gradient step in the tensor's own space.
    public mutating func move(by offset: DTensor) { self = self + offset }

    /// The derivative of `add`: its value and pullback, registered for `_Differentiation`.
    @derivative(of: +)
    public static func vjpAdd(_ lhs: DTensor, _ rhs: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
        (lhs + rhs, { g in (lhs.deliver(g.summed(toShape: lhs.shape)), rhs.deliver(g.summed(toShape: rhs.shape))) })
    }

    /// The derivative of `subtract`: its value and pullback, registered for `_Differentiation`.
    @derivative(of: -)
    public static func vjpSubtract(_ lhs: DTensor, _ rhs: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
        (lhs - rhs, { g in (lhs.deliver(g.summed(toShape: lhs.shape)), rhs.deliver(g.summed(toShape: rhs.shape).scaled(by: -1))) })
    }

    public static func == (lhs: DTensor, rhs: DTensor) -> Bool { lhs.shape == rhs.shape && lhs.values == rhs.values }
}
