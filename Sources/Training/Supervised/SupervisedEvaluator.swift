import EngineCore
import NeuralNet

/// What one evaluation iteration returns: the batch's mean loss and views of its logits and labels.
public typealias EvaluationOutput = TrainingStepOutput

/// An evaluator engine for a classifier: forward in inference mode and the loss, no gradients.
///
/// The Swift form of Ignite's `create_supervised_evaluator`; attach metrics to `engine`.
public final class SupervisedEvaluator {
    /// The engine running the evaluation loop.
    public private(set) var engine: Engine<LabeledBatch, EvaluationOutput>!
    /// The model evaluated.
    public let model: Sequential
    private let loss = SoftmaxCrossEntropy()

    /// An evaluator of `model`.
    public init(model: Sequential) {
        self.model = model
        engine = Engine { [unowned self] _, batch in
            let classes = self.model.outputCount
            let logits = self.model.forward(batch.features, batchSize: batch.count, training: false, randomKey: 0)
            let value = loss(logits: logits, labels: batch.labels, batchSize: batch.count, classes: classes,
                             gradient: nil)
            return EvaluationOutput(loss: value, count: batch.count, logits: logits, labels: batch.labels,
                                    classes: classes)
        }
    }
}
