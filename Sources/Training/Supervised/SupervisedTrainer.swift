import EngineCore
import NeuralNet

/// An engine that trains `model`: forward, `loss`, backward, `.gradientsReady`, optimizer step. The Swift form
/// of Ignite's `create_supervised_trainer`.
///
/// The engine holds everything it needs: keeping only the returned engine is enough. With
/// `accumulationSteps = k` the gradients of k batches are summed (each scaled by 1/k) and the optimizer steps
/// every k-th iteration. Dropout keys derive from (`seed`, iteration, rank), so a resumed run draws the same masks.
/// With `microBatching` (`.automatic` or `.count(n)`; whole batches by default), a model that makes replicas
/// (`ReplicableModel`: differentiable models without running statistics, `Sequential` of built-in layers) runs each
/// batch as micro-batches at once on the compute threads: for models whose rows are independent and losses that
/// average over their terms. The result depends on the policy and the batch, never on the thread count.
/// - Parameters:
///   - prepareBatch: turns a batch of the data into the model's input and the loss's targets.
///   - outputTransform: what the engine stores in `state.output` (Ignite's `output_transform`).
public func makeSupervisedTrainer<Batch, Output>(
    model: any Model, optimizer: any Optimizer, loss: any LossFunction, accumulationSteps: Int = 1, seed: UInt64 = 0,
    microBatching: MicroBatching = .count(1), prepareBatch: @escaping (Batch) throws -> (inputs: Tensor, targets: Tensor),
    outputTransform: @escaping (SupervisedStep) -> Output
) -> Engine<Batch, Output> {
    precondition(accumulationSteps > 0, "accumulationSteps must be positive")
    let hooks = GradientHooks()
    let dropoutStream = CounterRandom.derive(CounterRandom.streamKey(purpose: "dropout"), seed)
    let microBatches = MicroBatchReplicas(model: model, policy: microBatching)
    let engine = Engine<Batch, Output> { engine, batch in
        let (inputs, targets) = try prepareBatch(batch)
        let iteration = engine.state.iteration
        let key = CounterRandom.derive(CounterRandom.derive(dropoutStream, UInt64(iteration)), UInt64(hooks.rank))
        let firstOfStep = (iteration - 1) % accumulationSteps == 0
        let lastOfStep = iteration % accumulationSteps == 0
        let (value, predictions) = try microBatches.trainingPass(
            inputs: inputs, targets: targets, loss: loss, randomKey: key,
            gradientScale: hooks.lossGradientScale / Float(accumulationSteps), accumulate: !firstOfStep,
            progress: lastOfStep ? hooks.backwardProgress : nil)
        if lastOfStep {
            try engine.fireEvent(.gradientsReady)
            optimizer.step()
        }
        return outputTransform(SupervisedStep(inputs: inputs, targets: targets, predictions: predictions, loss: value))
    }
    engine.registerEvents(.gradientsReady, counter: .iteration)
    engine.state[.gradientHooks] = hooks
    return engine
}

/// A trainer over `SupervisedBatch`es whose output is the loss, predictions and targets.
public func makeSupervisedTrainer(
    model: any Model, optimizer: any Optimizer, loss: any LossFunction, accumulationSteps: Int = 1, seed: UInt64 = 0,
    microBatching: MicroBatching = .count(1)
) -> Engine<SupervisedBatch, SupervisedOutput> {
    makeSupervisedTrainer(
        model: model, optimizer: optimizer, loss: loss, accumulationSteps: accumulationSteps,
        seed: seed, microBatching: microBatching, prepareBatch: { ($0.inputs, $0.targets) }, outputTransform: \.output)
}
