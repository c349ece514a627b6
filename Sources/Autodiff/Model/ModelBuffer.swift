import NeuralNet

/// Non-trainable model state such as a batch norm's running statistics (PyTorch's buffers): a model holds it as a
/// `@noDerivative` property, `AutodiffModel` binds it into its arena by property path, and it is then saved in
/// checkpoints, loaded, and broadcast from rank 0 with the parameters, but never given a gradient or stepped.
public final class ModelBuffer {
    /// The dimensions.
    public let shape: [Int]
    private var storage: [Float]
    var arena: ParameterArena?
    var entry: ParameterEntry?

    /// A buffer of `shape` with initial `values`.
    public init(shape: [Int], values: [Float]) {
        ensure(shape.reduce(1, *) == values.count, "ModelBuffer: shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        storage = values
    }

    /// The current values (from the arena once bound).
    public var values: [Float] {
        get { withMutableValues { Array($0) } }
        set {
            ensure(newValue.count == storage.count, "ModelBuffer: \(newValue.count) values for shape \(shape)")
            withMutableValues { _ = $0.update(fromContentsOf: newValue) }
        }
    }

    /// Runs `body` on the values in place.
    func withMutableValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if let arena, let entry {
            return try arena.withUnsafeMutableBufferStorage { try body(UnsafeMutableBufferPointer(rebasing: $0[entry.range])) }
        }
        return try storage.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// running ← (1 − momentum)·running + momentum·statistics (PyTorch's running-statistics update).
    func move(toward statistics: [Float], momentum: Float) {
        withMutableValues { running in
            for index in 0..<Swift.min(running.count, statistics.count) {
                running[index] = (1 - momentum) * running[index] + momentum * statistics[index]
            }
        }
    }

    /// The values before binding, for the arena.
    var initialValues: [Float] { storage }
}
