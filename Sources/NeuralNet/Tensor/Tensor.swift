/// A row-major Float32 tensor: a shape and its values, with value semantics.
///
/// What models, losses, batches and outputs exchange: a tensor stays valid as long as it is held, whatever
/// runs afterwards. Built-in layers work on the model's reusable buffers inside `forward`/`backward`.
public struct Tensor: Equatable, Sendable, CustomStringConvertible {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    /// The values, row-major; `values.count` is the product of `shape`.
    public var values: [Float]

    /// A tensor of `shape` holding `values`.
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// A tensor of `shape` holding a copy of `buffer`'s values.
    public init(shape: [Int], copying buffer: UnsafeBufferPointer<Float>) {
        self.init(shape: shape, values: Array(buffer))
    }

    /// A tensor of `shape` whose values `initializer` writes (every one of them).
    public init(shape: [Int], initializingWith initializer: (inout UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        self.shape = shape
        values = try Array(unsafeUninitializedCapacity: count) { buffer, initialized in
            try initializer(&buffer)
            initialized = count
        }
    }

    /// Number of values.
    public var count: Int { values.count }

    /// Size of the first dimension (the batch), 0 for a scalar.
    public var rows: Int { shape.first ?? 0 }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, values: Array(repeating: value, count: shape.reduce(1, *)))
    }

    /// The element at a multi-dimensional index.
    public subscript(_ index: Int...) -> Float {
        get { values[offset(index)] }
        set { values[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank differs from shape rank")
        var offset = 0
        for (position, size) in zip(index, shape) {
            precondition(position >= 0 && position < size, "index out of range")
            offset = offset * size + position
        }
        return offset
    }

    /// The same values under another shape of the same size.
    public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, values: values) }

    /// The matrix product of two 2-D tensors, through `cblas_sgemm`.
    public func matmul(_ other: Tensor) -> Tensor {
        precondition(shape.count == 2 && other.shape.count == 2 && shape[1] == other.shape[0], "matmul shapes")
        var result = Array(repeating: Float(0), count: shape[0] * other.shape[1])
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(
                        transposeA: false, transposeB: false, m: shape[0], n: other.shape[1], k: shape[1],
                        a.baseAddress!, lda: shape[1], b.baseAddress!, ldb: other.shape[1], beta: 0,
                        c.baseAddress!, ldc: other.shape[1])
                }
            }
        }
        return Tensor(shape: [shape[0], other.shape[1]], values: result)
    }

    /// Element-wise sum of tensors of the same shape.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "shapes differ")
        return Tensor(shape: lhs.shape, values: zip(lhs.values, rhs.values).map(+))
    }

    /// The tensor with `transform` applied to every value.
    public func map(_ transform: (Float) -> Float) -> Tensor { Tensor(shape: shape, values: values.map(transform)) }

    /// Sum of every value.
    public func sum() -> Float { values.reduce(0, +) }

    /// Index of the largest value of each row of a 2-D tensor.
    public func argmaxRows() -> [Int] {
        precondition(shape.count == 2, "argmaxRows needs a matrix")
        return (0..<shape[0]).map { row in
            let slice = values[(row * shape[1])..<((row + 1) * shape[1])]
            return slice.indices.max { slice[$0] < slice[$1] }! - row * shape[1]
        }
    }

    public var description: String { "Tensor(\(shape): \(values.prefix(8))\(values.count > 8 ? "..." : ""))" }
}
