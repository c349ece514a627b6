import NeuralNet

/// One batch of samples and their targets, as values: it stays valid after its iteration and whatever runs next.
public struct SupervisedBatch: Sendable {
    /// The inputs, `[count] + sampleShape`.
    public var inputs: Tensor
    /// The targets: class indices `[count]` for classification, values `[count, outputs]` for regression.
    public var targets: Tensor
    /// The epoch of the data this batch belongs to (0-based pass over the data).
    public var dataEpoch: Int
    /// The batch's position within its epoch on this rank (0-based).
    public var indexInEpoch: Int

    /// A batch of `inputs` and `targets` with the same first dimension.
    public init(inputs: Tensor, targets: Tensor, dataEpoch: Int = 0, indexInEpoch: Int = 0) {
        precondition(inputs.rows == targets.rows, "inputs hold \(inputs.rows) samples, targets \(targets.rows)")
        self.inputs = inputs
        self.targets = targets
        self.dataEpoch = dataEpoch
        self.indexInEpoch = indexInEpoch
    }

    /// Samples in the batch.
    public var count: Int { inputs.rows }
}

/// What the supervised factories' engines return per iteration by default: the batch's mean loss, the model's
/// predictions and the targets, as values that stay valid after the iteration.
public struct SupervisedOutput: Sendable {
    /// Mean loss over the batch (NaN from an evaluator made without a loss).
    public var loss: Float
    /// The model's output, `[count] + outputShape` (logits for a classifier).
    public var predictions: Tensor
    /// The batch's targets.
    public var targets: Tensor

    /// An output.
    public init(loss: Float, predictions: Tensor, targets: Tensor) {
        self.loss = loss
        self.predictions = predictions
        self.targets = targets
    }

    /// Samples in the batch.
    public var count: Int { predictions.rows }
}

/// Everything one supervised iteration saw: what an output transform picks from (Ignite's `x, y, y_pred, loss`).
public struct SupervisedStep: Sendable {
    /// The model's input.
    public var inputs: Tensor
    /// The targets.
    public var targets: Tensor
    /// The model's output.
    public var predictions: Tensor
    /// The batch's mean loss.
    public var loss: Float

    /// The default output: loss, predictions and targets.
    public var output: SupervisedOutput { SupervisedOutput(loss: loss, predictions: predictions, targets: targets) }
}
