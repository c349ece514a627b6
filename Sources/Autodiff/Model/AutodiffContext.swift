import Foundation
import NeuralNet

/// What a differentiable model's forward pass is told besides its input (training or not, the random key of
/// the step, how batch statistics are summed across replicas), set by `AutodiffModel` for the duration of each
/// forward and backward pass on the running thread.
public enum AutodiffContext {
    /// A thread-specific slot (a pthread key: reading it is a few instructions, unlike Foundation's thread dictionary).
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The context of the forward pass running on this thread (evaluation, key 0, when none is).
    public static var current: LayerContext { box?.context ?? LayerContext(training: false, randomKey: 0) }

    static var box: Box? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<Box>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Draws counted within the current forward pass, so each dropout site gets its own masks.
    static func nextDraw() -> UInt64 {
        guard let box else { return 0 }
        box.draws += 1
        return box.draws
    }

    /// Sums `values` over every replica of the model (identity without a replica group); a failure is kept and
    /// thrown by `AutodiffModel` when the pass ends.
    static func sumOverReplicas(_ values: [Double]) -> [Double] {
        guard let box, let sum = box.replicaSum, box.failure == nil else { return values }
        do { return try sum(values) } catch {
            box.failure = error
            return values
        }
    }

    /// Runs `body` with `context` current on this thread: for calling layers outside an `AutodiffModel` (a training
    /// forward pass of a batch norm, dropout keyed by `context.randomKey`).
    public static func run<R>(in context: LayerContext, _ body: () throws -> R) throws -> R {
        try with(context, body)
    }

    /// Runs `body` with `context` current on this thread.
    static func with<R>(
        _ context: LayerContext, replicaSum: (([Double]) throws -> [Double])? = nil, recorder: Box? = nil,
        sink: GradientSink? = nil, _ body: () throws -> R
    ) throws -> R {
        let previous = pthread_getspecific(key)
        let box = recorder ?? Box(context)
        box.replicaSum = replicaSum
        box.sink = sink
        pthread_setspecific(key, Unmanaged.passUnretained(box).toOpaque())
        defer { pthread_setspecific(key, previous) }
        let result = try withExtendedLifetime(box) { try body() }
        if let failure = box.failure { throw failure }
        return result
    }

    /// The running-statistics moves recorded during this pass when they are deferred (nil: apply them at once).
    static func record(_ buffer: ModelBuffer, _ statistics: [Float], momentum: Float) -> Bool {
        guard let box, box.recorded != nil else { return false }
        box.recorded!.append((buffer, statistics, momentum))
        return true
    }

    final class Box {
        let context: LayerContext
        var draws: UInt64 = 0
        var replicaSum: (([Double]) throws -> [Double])?
        var failure: Error?
        /// Deferred running-statistics moves, in call order.
        var recorded: [(buffer: ModelBuffer, statistics: [Float], momentum: Float)]?
        /// Where parameter gradients go while a model runs backward on this thread.
        var sink: GradientSink?
        init(_ context: LayerContext) { self.context = context }
    }
}
