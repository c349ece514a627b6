/// A residual block: `output = input + body(input)`, the body being any chain of layers whose output has the
/// input's shape. Its parameters are named after the body's ("2.0.weight" for a block at index 2).
///
/// ```swift
/// let model = try Sequential([Linear(inputs: 64, outputs: 128), ReLU(),
///                             Residual([Linear(inputs: 128, outputs: 128), ReLU()]),
///                             Linear(inputs: 128, outputs: 10)], inputShape: [64], seed: 0)
/// ```
public final class Residual: KernelLayer {
    private let body: [any Layer]
    private var chain: LayerChain?

    /// A block adding `body`'s output to its input.
    public init(_ body: [any Layer]) { self.body = body }

    /// A new block of replicas of the body's layers; nil when one of them makes none.
    public func makeReplica() -> (any KernelLayer)? {
        var layers: [any Layer] = []
        for layer in (chain?.layers ?? []) {
            guard let replica = layer.makeReplica() else { return nil }
            layers.append(replica)
        }
        return chain == nil ? nil : Residual(layers)
    }

    public func configure(inputShape: [Int]) throws -> [Int] {
        let chain = try LayerChain(body, inputShape: inputShape)
        guard chain.shapes.last! == inputShape else {
            throw LayerError.badInputShape(
                layer: "Residual", shape: inputShape,
                expected: "a body that keeps the shape; it returns \(chain.shapes.last!)")
        }
        self.chain = chain
        return inputShape
    }

    private var configured: LayerChain {
        guard let chain else { preconditionFailure("Residual used before configure(inputShape:)") }
        return chain
    }

    public var parameterShapes: [(suffix: String, shape: [Int])] { configured.parameterShapes }

    public func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) {
        configured.bind(parameters: parameters, gradients: gradients)
    }

    public func initialize(using random: inout CounterRandom) {
        for layer in configured.layers { layer.initialize(using: &random) }
    }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
        randomKey: UInt64
    ) {
        let chain = configured
        let count = batch * chain.inputCount
        let result = chain.forward(input, batch: batch, training: training, randomKey: randomKey)
        output.update(from: input, count: count)
        Kernels.add(result, to: output, count: count)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool
    ) {
        let chain = configured
        let count = batch * chain.inputCount
        chain.backward(input: input, outputGradient: outputGradient, inputGradient: inputGradient, accumulate: accumulate)
        if let inputGradient { Kernels.add(outputGradient, to: inputGradient, count: count) }
    }
}
