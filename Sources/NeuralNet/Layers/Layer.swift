/// A layer of a `Sequential` model: a function of a batch, with optional parameters in the model's arena.
///
/// Layers work on raw row-major batch buffers owned by the model, so a training step allocates nothing.
/// `configure` is called once with the per-sample input shape; `bind` hands the layer its views into the
/// arena; forward and backward then run for any batch size.
public protocol Layer: AnyObject {
    /// Records the per-sample input shape and returns the per-sample output shape.
    /// - Throws: `LayerError` when the input shape does not suit the layer.
    func configure(inputShape: [Int]) throws -> [Int]
    /// The parameter tensors this layer needs, as (suffix, shape): "weight", "bias".
    var parameterShapes: [(suffix: String, shape: [Int])] { get }
    /// Gives the layer its parameter and gradient views, in `parameterShapes` order.
    func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>])
    /// Draws initial parameters (PyTorch's defaults).
    func initialize(using random: inout CounterRandom)
    /// Computes `output` (batch x outputs) from `input` (batch x inputs).
    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
                 randomKey: UInt64)
    /// Writes (or adds, when `accumulate`) parameter gradients, and the input gradient when asked.
    func backward(input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                  inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool)
}

extension Layer {
    public var parameterShapes: [(suffix: String, shape: [Int])] { [] }
    public func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) {}
    public func initialize(using random: inout CounterRandom) {}
}

/// A layer given an input it cannot take.
public enum LayerError: Error, Equatable, CustomStringConvertible {
    case badInputShape(layer: String, shape: [Int], expected: String)

    public var description: String {
        switch self {
        case .badInputShape(let layer, let shape, let expected): "\(layer) cannot take input of shape \(shape): \(expected)"
        }
    }
}

/// Fills `values` uniformly in [-bound, bound).
func fillUniform(_ values: UnsafeMutableBufferPointer<Float>, bound: Float, using random: inout CounterRandom) {
    for index in values.indices { values[index] = (random.nextUniform() * 2 - 1) * bound }
}
