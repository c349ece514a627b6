import EngineCore
import NeuralNet

/// An evaluator for a language model: each batch of windows [batch, time] is read from the start (a recurrent
/// model's carried state set to zeros for every batch, and the trainer's restored when the run ends), the loss is
/// `SequenceCrossEntropy`, and the output holds every position's logits for `TokenLoss` metrics.
public func makeLanguageModelEvaluator(model: any Model, ignoreIndex: Int = -100) -> Engine<SupervisedBatch, SupervisedOutput> {
    // One position's classes: [vocabulary] for a recurrent model, [context, vocabulary] for a windowed one.
    let classes = model.outputShape.last ?? 1
    let recurrent = model as? any RecurrentStateModel
    let prepare: (SupervisedBatch) throws -> (inputs: Tensor, targets: Tensor) = { batch in
        recurrent?.carriedState = []
        return (batch.inputs, batch.targets)
    }
    let evaluator: Engine<SupervisedBatch, SupervisedOutput> = makeSupervisedEvaluator(
        model: model, loss: SequenceCrossEntropy(classes: classes, ignoreIndex: ignoreIndex), prepareBatch: prepare,
        outputTransform: { (step: SupervisedStep) in step.output })
    var saved: [Tensor] = []
    if let recurrent {
        // Standard events are always registered: attaching cannot fail.
        _ = try? evaluator.addEventHandler(.started) { _ in saved = recurrent.carriedState }
        _ = try? evaluator.addEventHandler(.completed) { _ in recurrent.carriedState = saved }
    }
    return evaluator
}
