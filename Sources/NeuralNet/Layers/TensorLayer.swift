/// A layer written with safe `Tensor` values: the ordinary way to add your own layer to a `Sequential`.
///
/// ```swift
/// final class Scale: TensorLayer {
///     func configure(inputShape: [Int]) throws -> [Int] { inputShape }
///     var parameterShapes: [(suffix: String, shape: [Int])] { [("factor", [1])] }
///     func forward(_ x: Tensor, parameters: [Tensor], context: LayerContext) -> Tensor {
///         x.map { $0 * parameters[0].values[0] }
///     }
///     func backward(input: Tensor, output: Tensor, outputGradient: Tensor, parameters: [Tensor]) -> LayerGradients {
///         LayerGradients(input: outputGradient.map { $0 * parameters[0].values[0] },
///                        parameters: [Tensor(shape: [1], values: [zip(input.values, outputGradient.values).map(*).reduce(0, +)])])
///     }
/// }
/// ```
/// Tensors carry the batch as their first dimension: `[batch] + inputShape`. The model copies values in and
/// out of its buffers, which costs a little per step beside a `KernelLayer`.
public protocol TensorLayer: Layer {
    /// Initial parameter values in `parameterShapes` order; by default PyTorch's uniform ±1/√fan-in bound for
    /// tensors of two or more dimensions and zeros for the rest.
    func initialParameters(using random: inout CounterRandom) -> [Tensor]
    /// The output for a batch.
    func forward(_ input: Tensor, parameters: [Tensor], context: LayerContext) -> Tensor
    /// The gradients of the loss with respect to the input and to each parameter, given the output's.
    func backward(input: Tensor, output: Tensor, outputGradient: Tensor, parameters: [Tensor]) -> LayerGradients
}

/// What a `TensorLayer`'s backward pass returns.
public struct LayerGradients: Sendable {
    /// Gradient with respect to the layer's input, the input's shape.
    public var input: Tensor
    /// Gradient with respect to each parameter, in `parameterShapes` order and shapes.
    public var parameters: [Tensor]

    /// Gradients of the input and of the parameters.
    public init(input: Tensor, parameters: [Tensor] = []) {
        self.input = input
        self.parameters = parameters
    }
}

extension TensorLayer {
    /// Each parameter's initial values, drawn from `random` (Kaiming-uniform weights, zero biases).
    public func initialParameters(using random: inout CounterRandom) -> [Tensor] {
        parameterShapes.map { parameter in
            let count = parameter.shape.reduce(1, *)
            guard parameter.shape.count >= 2 else { return Tensor(shape: parameter.shape, repeating: 0) }
            let bound = 1 / Float(max(1, count / parameter.shape[0])).squareRoot()
            return Tensor(shape: parameter.shape, values: (0..<count).map { _ in (random.nextUniform() * 2 - 1) * bound })
        }
    }
}

/// Runs a `TensorLayer` as a `KernelLayer`: copies the batch and the parameters into tensors, checks what the
/// layer returns, and copies the results back.
final class TensorLayerKernel: KernelLayer {
    let layer: any TensorLayer
    private var inputShape: [Int] = []
    private var outputShape: [Int] = []
    private var parameters: [UnsafeMutableBufferPointer<Float>] = []
    private var gradients: [UnsafeMutableBufferPointer<Float>] = []
    private var lastInput: Tensor?
    private var lastOutput: Tensor?

    init(_ layer: any TensorLayer) { self.layer = layer }

    private var name: String { String(describing: type(of: layer)) }

    func configure(inputShape: [Int]) throws -> [Int] {
        self.inputShape = inputShape
        outputShape = try layer.configure(inputShape: inputShape)
        return outputShape
    }

    var parameterShapes: [(suffix: String, shape: [Int])] { layer.parameterShapes }

    func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) {
        self.parameters = parameters
        self.gradients = gradients
    }

    func initialize(using random: inout CounterRandom) {
        let values = layer.initialParameters(using: &random)
        precondition(
            values.count == parameters.count,
            "\(name).initialParameters returned \(values.count) tensors, "
                + "parameterShapes declares \(parameters.count)")
        for (tensor, view) in zip(values, parameters) {
            precondition(tensor.values.count == view.count, "\(name).initialParameters: a tensor of the wrong size")
            _ = view.update(fromContentsOf: tensor.values)
        }
    }

    private var parameterTensors: [Tensor] {
        zip(parameterShapes, parameters).map { Tensor(shape: $0.shape, values: Array($1)) }
    }

    func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
        randomKey: UInt64
    ) {
        let x = Tensor(shape: [batch] + inputShape, values: Array(UnsafeBufferPointer(start: input, count: batch * inputShape.reduce(1, *))))
        let y = layer.forward(x, parameters: parameterTensors, context: LayerContext(training: training, randomKey: randomKey))
        precondition(
            y.shape == [batch] + outputShape,
            "\(name).forward returned shape \(y.shape), expected \([batch] + outputShape)")
        y.values.withUnsafeBufferPointer { output.update(from: $0.baseAddress!, count: $0.count) }
        lastInput = x
        lastOutput = y
    }

    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool
    ) {
        guard let x = lastInput, let y = lastOutput else { preconditionFailure("\(name): backward before forward") }
        let dy = Tensor(shape: y.shape, values: Array(UnsafeBufferPointer(start: outputGradient, count: y.values.count)))
        let result = layer.backward(input: x, output: y, outputGradient: dy, parameters: parameterTensors)
        precondition(
            result.input.shape == x.shape,
            "\(name).backward returned an input gradient of shape "
                + "\(result.input.shape), expected \(x.shape)")
        precondition(
            result.parameters.count == gradients.count,
            "\(name).backward returned "
                + "\(result.parameters.count) parameter gradients, expected \(gradients.count)")
        for (tensor, view) in zip(result.parameters, gradients) {
            precondition(tensor.values.count == view.count, "\(name).backward: a parameter gradient of the wrong size")
            for index in view.indices { view[index] = accumulate ? view[index] + tensor.values[index] : tensor.values[index] }
        }
        if let inputGradient {
            result.input.values.withUnsafeBufferPointer { inputGradient.update(from: $0.baseAddress!, count: $0.count) }
        }
    }
}

/// The runnable form of any layer, or an error naming a layer that is neither kind.
func kernel(of layer: any Layer) throws -> any KernelLayer {
    if let kernel = layer as? any KernelLayer { return kernel }
    if let tensorLayer = layer as? any TensorLayer { return TensorLayerKernel(tensorLayer) }
    throw LayerError.unsupportedLayer(String(describing: type(of: layer)))
}
