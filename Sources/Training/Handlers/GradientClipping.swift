import EngineCore
import NeuralNet

/// Scales the gradients so that their global L2 norm is at most `maxNorm` (PyTorch's `clip_grad_norm_`),
/// at `.gradientsReady`: attach it after data parallelism, so it clips the averaged gradients, identically
/// on every rank.
public final class GradientClipping {
    /// The largest norm let through.
    public let maxNorm: Double
    /// The norm before clipping at the last step.
    public private(set) var lastNorm = 0.0

    /// Clipping at `maxNorm` (positive).
    /// - Throws: `ArgumentError` for a norm that is not a positive finite number.
    public init(maxNorm: Double) throws {
        try ArgumentError.require(maxNorm > 0 && maxNorm.isFinite, "GradientClipping(maxNorm:)", maxNorm, "a positive finite number")
        self.maxNorm = maxNorm
    }

    /// Clips `arena`'s gradients at every `.gradientsReady` of `engine`.
    public func attach<Batch, Output>(to engine: Engine<Batch, Output>, arena: ParameterArena) throws {
        if !engine.isRegistered(.gradientsReady) { engine.registerEvents(.gradientsReady, counter: .iteration) }
        try engine.on(.gradientsReady) { [self] _ in clip(arena) }
    }

    /// Clips now; returns the norm before clipping.
    @discardableResult
    public func clip(_ arena: ParameterArena) -> Double {
        let gradients = arena.gradients
        var sum = 0.0
        for value in gradients { sum += Double(value) * Double(value) }
        lastNorm = sum.squareRoot()
        if lastNorm > maxNorm {
            Kernels.scale(gradients.baseAddress!, count: gradients.count, by: Float(maxNorm / (lastNorm + 1e-6)))
        }
        return lastNorm
    }
}
