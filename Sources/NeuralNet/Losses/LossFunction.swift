import Foundation

/// A loss: one number for a batch of predictions against targets, and its gradient with respect to the
/// predictions. The supervised trainer differentiates the model from that gradient.
///
/// Predictions are `[batch] + outputShape`; what a target holds depends on the loss (class indices for
/// `SoftmaxCrossEntropy`, values of the predictions' shape for the regression losses). Every built-in loss
/// averages over the batch, as PyTorch's `reduction="mean"`. With micro-batches a loss is called from several
/// threads at once: keep it free of shared mutable state (a value type is).
public protocol LossFunction {
    /// The loss and its gradient with respect to `predictions`.
    /// - Throws: `LossError` when the targets do not fit the predictions.
    func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor)
    /// The loss alone (evaluation).
    func value(predictions: Tensor, targets: Tensor) throws -> Float
    /// How many terms the loss averages over for `targets` (by default their rows): the weight of a micro-batch's
    /// loss and gradient when one step's batch runs as several, so that together they are the whole batch's mean.
    func averagedTerms(targets: Tensor) -> Int
}

extension LossFunction {
    /// The targets' rows: a loss that is a mean over its batch's samples.
    public func averagedTerms(targets: Tensor) -> Int { targets.rows }

    public func value(predictions: Tensor, targets: Tensor) throws -> Float {
        try valueAndGradient(predictions: predictions, targets: targets).value
    }
}

/// Targets that do not fit the predictions.
public enum LossError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(loss: String, predictions: [Int], targets: [Int])
    case labelOutOfRange(label: Float, classes: Int)
    case emptyBatch(loss: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let loss, let predictions, let targets):
            "\(loss): targets of shape \(targets) do not fit predictions of shape \(predictions)"
        case .labelOutOfRange(let label, let classes):
            "class label \(label) is not an integer in 0..<\(classes)"
        case .emptyBatch(let loss): "\(loss): the batch is empty"
        }
    }
}

/// A loss applied value by value (the regression losses): the mean over every value of
/// `term(prediction, target)`, with targets of the predictions' size and batch.
func elementwiseLoss(
    _ name: String, _ predictions: Tensor, _ targets: Tensor,
    term: (Float, Float) -> (value: Float, derivative: Float)
) throws -> (value: Float, gradient: Tensor) {
    guard predictions.count == targets.count, predictions.rows == targets.rows else {
        throw LossError.shapeMismatch(loss: name, predictions: predictions.shape, targets: targets.shape)
    }
    guard predictions.count > 0 else { throw LossError.emptyBatch(loss: name) }
    var total: Double = 0
    let scale = 1 / Float(predictions.count)
    let gradient = Tensor(shape: predictions.shape) { gradient in
        for index in 0..<predictions.count {
            let (value, derivative) = term(predictions.values[index], targets.values[index])
            total += Double(value)
            gradient[index] = derivative * scale
        }
    }
    return (Float(total / Double(predictions.count)), gradient)
}

/// Mean squared error: the mean of (prediction - target)².
public struct MeanSquaredError: LossFunction, Sendable {
    /// A loss.
    public init() {}

    public func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        try elementwiseLoss("MeanSquaredError", predictions, targets) { p, t in ((p - t) * (p - t), 2 * (p - t)) }
    }
}

/// Mean absolute error (L1): the mean of |prediction - target|; the derivative at 0 is 0, as PyTorch's.
public struct MeanAbsoluteError: LossFunction, Sendable {
    /// A loss.
    public init() {}

    public func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        try elementwiseLoss("MeanAbsoluteError", predictions, targets) { p, t in
            (abs(p - t), p > t ? 1 : p < t ? -1 : 0)
        }
    }
}

/// Huber loss: quadratic within `delta` of the target, linear beyond (PyTorch's `HuberLoss`).
public struct HuberLoss: LossFunction, Sendable {
    /// Where the loss turns from quadratic to linear.
    public let delta: Float
    /// A Huber loss; `delta` must be positive.
    public init(delta: Float = 1) {
        precondition(delta > 0, "HuberLoss needs a positive delta")
        self.delta = delta
    }

    public func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        try elementwiseLoss("HuberLoss", predictions, targets) { p, t in
            let difference = p - t
            let size = abs(difference)
            if size <= delta { return (0.5 * difference * difference, difference) }
            return (delta * (size - 0.5 * delta), difference > 0 ? delta : -delta)
        }
    }
}

/// Binary cross-entropy of logits against targets in [0, 1] of the same shape (PyTorch's
/// `BCEWithLogitsLoss`), computed stably as max(z, 0) - z·t + log(1 + e^-|z|).
public struct BinaryCrossEntropyWithLogits: LossFunction, Sendable {
    /// A loss.
    public init() {}

    public func valueAndGradient(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        try elementwiseLoss("BinaryCrossEntropyWithLogits", predictions, targets) { z, t in
            (max(z, 0) - z * t + log1p(exp(-abs(z))), 1 / (1 + exp(-z)) - t)
        }
    }
}
