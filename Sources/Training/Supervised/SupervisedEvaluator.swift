import EngineCore
import NeuralNet

/// An engine that evaluates `model`: forward in inference mode and, when given, the loss; no gradients. The
/// Swift form of Ignite's `create_supervised_evaluator`: attach metrics to it.
///
/// The engine holds everything it needs: keeping only the returned engine is enough.
public func makeSupervisedEvaluator<Batch, Output>(
    model: any Model, loss: (any LossFunction)? = nil,
    prepareBatch: @escaping (Batch) throws -> (inputs: Tensor, targets: Tensor),
    outputTransform: @escaping (SupervisedStep) -> Output
) -> Engine<Batch, Output> {
    Engine<Batch, Output> { _, batch in
        let (inputs, targets) = try prepareBatch(batch)
        let predictions = try model(inputs)
        let value = try loss?.value(predictions: predictions, targets: targets) ?? .nan
        return outputTransform(SupervisedStep(inputs: inputs, targets: targets, predictions: predictions, loss: value))
    }
}

/// An evaluator over `SupervisedBatch`es whose output is the loss, predictions and targets.
public func makeSupervisedEvaluator(model: any Model, loss: (any LossFunction)? = nil)
    -> Engine<SupervisedBatch, SupervisedOutput>
{
    makeSupervisedEvaluator(model: model, loss: loss, prepareBatch: { ($0.inputs, $0.targets) }, outputTransform: \.output)
}
