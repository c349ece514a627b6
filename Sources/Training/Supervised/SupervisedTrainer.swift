import EngineCore
import NeuralNet

extension Event {
    /// Fired by the supervised trainer between the backward pass and the optimizer step, once the
    /// gradients of a (possibly accumulated) step are complete: where gradient all-reduce attaches.
    public static let gradientsReady = Event("GRADIENTS_READY")
}

/// What one training iteration returns: the batch's mean loss, plus views of its logits and labels
/// (valid until the next iteration) for metrics.
public struct TrainingStepOutput {
    /// Mean loss over the batch.
    public var loss: Float
    /// Samples in the batch.
    public var count: Int
    /// Logits, `count x classes`.
    public var logits: UnsafeBufferPointer<Float>
    /// Labels of the batch.
    public var labels: UnsafeBufferPointer<Int32>
    /// Number of classes.
    public var classes: Int
}

/// A trainer engine for a classifier: forward, softmax cross-entropy, backward, `.gradientsReady`, step.
///
/// The Swift form of Ignite's `create_supervised_trainer`. With `accumulationSteps = k` the gradients
/// of k batches are summed (each scaled by 1/k) and the optimizer steps every k-th iteration.
public final class SupervisedTrainer {
    /// The engine running the loop; attach handlers and metrics to it.
    public private(set) var engine: Engine<LabeledBatch, TrainingStepOutput>!
    /// The model being trained.
    public let model: Sequential
    /// The optimizer updating the model's arena.
    public let optimizer: any Optimizer
    /// Batches whose gradients are summed before each optimizer step.
    public let accumulationSteps: Int
    /// Factor applied to the loss gradient (the gradient all-reduce sets 1/world so its sum is an average).
    public var gradientScale: Float = 1
    /// Called during backward with the arena offset from which every gradient is final (overlap hook).
    public var backwardProgress: ((Int) -> Void)?
    /// Seed of the dropout streams.
    public var seed: UInt64
    /// This rank, for the dropout streams.
    public var rank: Int

    private let loss = SoftmaxCrossEntropy()
    private var lossGradient: UnsafeMutableBufferPointer<Float>
    private static let dropoutStream = CounterRandom.streamKey(purpose: "dropout")

    /// A trainer of `model` with `optimizer`.
    public init(model: Sequential, optimizer: any Optimizer, accumulationSteps: Int = 1, seed: UInt64 = 0,
                rank: Int = 0) {
        precondition(accumulationSteps > 0, "accumulationSteps must be positive")
        self.model = model
        self.optimizer = optimizer
        self.accumulationSteps = accumulationSteps
        self.seed = seed
        self.rank = rank
        lossGradient = .allocate(capacity: 0)
        engine = Engine { [unowned self] engine, batch in try step(engine, batch) }
        engine.registerEvents(.gradientsReady, counter: .iteration)
    }

    deinit { lossGradient.deallocate() }

    private func step(_ engine: Engine<LabeledBatch, TrainingStepOutput>, _ batch: LabeledBatch) throws
        -> TrainingStepOutput
    {
        let classes = model.outputCount
        let iteration = engine.state.iteration
        let randomKey = CounterRandom.derive(CounterRandom.derive(CounterRandom.derive(Self.dropoutStream, seed),
                                                                  UInt64(iteration)), UInt64(rank))
        let logits = model.forward(batch.features, batchSize: batch.count, training: true, randomKey: randomKey)
        let needed = batch.count * classes
        if lossGradient.count < needed {
            lossGradient.deallocate()
            lossGradient = .allocate(capacity: needed)
        }
        let gradient = UnsafeMutableBufferPointer(rebasing: lossGradient[0..<needed])
        let value = loss(logits: logits, labels: batch.labels, batchSize: batch.count, classes: classes,
                         gradient: gradient)
        let scale = gradientScale / Float(accumulationSteps)
        if scale != 1 {
            for index in gradient.indices { gradient[index] *= scale }
        }
        let firstOfStep = (iteration - 1) % accumulationSteps == 0
        let lastOfStep = iteration % accumulationSteps == 0
        model.backward(outputGradient: UnsafeBufferPointer(gradient), accumulate: !firstOfStep,
                       gradientsReady: lastOfStep ? backwardProgress : nil)
        if lastOfStep {
            try engine.fireEvent(.gradientsReady)
            optimizer.step()
        }
        return TrainingStepOutput(loss: value, count: batch.count, logits: logits, labels: batch.labels,
                                  classes: classes)
    }
}
