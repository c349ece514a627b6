/// A stage of a `Sequential` model (or of a `Residual` block): a function of a batch, with optional
/// parameters in the model's arena.
///
/// A layer is written in one of two ways: as a `TensorLayer` (safe `Tensor` values in and out, the ordinary
/// way to add your own) or as a `KernelLayer` (raw buffers, allocation-free, the explicit opt-in for
/// hand-written kernels, as every built-in layer is).
public protocol Layer: AnyObject {
    /// Records the per-sample input shape and returns the per-sample output shape.
    /// - Throws: `LayerError` when the input shape does not suit the layer.
    func configure(inputShape: [Int]) throws -> [Int]
    /// The parameter tensors this layer needs, as (suffix, shape): "weight", "bias".
    var parameterShapes: [(suffix: String, shape: [Int])] { get }
}

extension Layer {
    public var parameterShapes: [(suffix: String, shape: [Int])] { [] }
}

/// What a layer's forward pass is told besides its input.
public struct LayerContext: Sendable, Equatable {
    /// Whether the model is training (dropout active) or evaluating.
    public var training: Bool
    /// Keys the layer's random draws (dropout masks); the same key gives the same draws. 0 when not training.
    public var randomKey: UInt64

    /// A context for one forward pass.
    public init(training: Bool, randomKey: UInt64) {
        self.training = training
        self.randomKey = randomKey
    }
}

/// A layer given an input it cannot take, or a layer `Sequential` cannot run.
public enum LayerError: Error, Equatable, CustomStringConvertible {
    case badInputShape(layer: String, shape: [Int], expected: String)
    case unsupportedLayer(String)
    case badOutput(layer: String, detail: String)
    /// A layer made with an argument it cannot take (`Linear(outputs: 0)`), found when a model is built from it.
    case invalidArgument(layer: String, argument: String, expected: String)

    public var description: String {
        switch self {
        case .badInputShape(let layer, let shape, let expected): "\(layer) cannot take input of shape \(shape): \(expected)"
        case .unsupportedLayer(let name):
            "\(name) conforms to Layer but neither to TensorLayer nor to KernelLayer, so it cannot run"
        case .badOutput(let layer, let detail): "\(layer) returned \(detail)"
        case .invalidArgument(let layer, let argument, let expected): "\(layer): \(argument) must be \(expected)"
        }
    }
}

/// Fills `values` uniformly in [-bound, bound).
func fillUniform(_ values: UnsafeMutableBufferPointer<Float>, bound: Float, using random: inout CounterRandom) {
    for index in values.indices { values[index] = (random.nextUniform() * 2 - 1) * bound }
}
