/// A fully connected layer `y = x Wᵀ + b`, with W of shape [outputs, inputs] as in PyTorch.
public final class Linear: KernelLayer {
    /// Input features.
    public let inputs: Int
    /// Output features.
    public let outputs: Int
    private var weight = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var bias = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var weightGradient = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var biasGradient = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)

    /// A layer from `inputs` to `outputs` features (a size below 1 is a `LayerError` when a model is built from it).
    public init(inputs: Int, outputs: Int) {
        self.inputs = inputs
        self.outputs = outputs
    }

    public func configure(inputShape: [Int]) throws -> [Int] {
        guard inputs > 0 && outputs > 0 else {
            throw LayerError.invalidArgument(
                layer: "Linear(inputs: \(inputs), outputs: \(outputs))", argument: "each size",
                expected: "at least 1")
        }
        guard inputShape.reduce(1, *) == inputs else {
            throw LayerError.badInputShape(
                layer: "Linear(\(inputs), \(outputs))", shape: inputShape,
                expected: "\(inputs) features")
        }
        return [outputs]
    }

    /// A new layer of the same sizes.
    public func makeReplica() -> (any KernelLayer)? { Linear(inputs: inputs, outputs: outputs) }

    public var parameterShapes: [(suffix: String, shape: [Int])] { [("weight", [outputs, inputs]), ("bias", [outputs])] }

    public func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) {
        weight = parameters[0]
        bias = parameters[1]
        weightGradient = gradients[0]
        biasGradient = gradients[1]
    }

    /// The bound views, for the shardwise passes (`ShardwiseKernelLayer`).
    var weightValues: UnsafeMutablePointer<Float> { weight.baseAddress! }
    var biasValues: UnsafeMutablePointer<Float> { bias.baseAddress! }
    var weightGradientValues: UnsafeMutablePointer<Float> { weightGradient.baseAddress! }
    var biasGradientValues: UnsafeMutablePointer<Float> { biasGradient.baseAddress! }

    /// Kaiming-uniform weights with a = √5 and a uniform bias, both with bound 1/√inputs (PyTorch's default).
    public func initialize(using random: inout CounterRandom) {
        let bound = 1 / Float(inputs).squareRoot()
        fillUniform(weight, bound: bound, using: &random)
        fillUniform(bias, bound: bound, using: &random)
    }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
        randomKey: UInt64
    ) {
        Kernels.broadcastRows(UnsafePointer(bias.baseAddress!), output, rows: batch, width: outputs)
        BLAS.gemm(
            transposeA: false, transposeB: true, m: batch, n: outputs, k: inputs, input, lda: inputs,
            UnsafePointer(weight.baseAddress!), ldb: inputs, beta: 1, output, ldc: outputs)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool
    ) {
        BLAS.gemm(
            transposeA: true, transposeB: false, m: outputs, n: inputs, k: batch, outputGradient, lda: outputs,
            input, ldb: inputs, beta: accumulate ? 1 : 0, weightGradient.baseAddress!, ldc: inputs)
        Kernels.sumRows(outputGradient, biasGradient.baseAddress!, rows: batch, width: outputs, accumulate: accumulate)
        if let inputGradient {
            BLAS.gemm(
                transposeA: false, transposeB: false, m: batch, n: inputs, k: outputs, outputGradient,
                lda: outputs, UnsafePointer(weight.baseAddress!), ldb: inputs, beta: 0, inputGradient, ldc: inputs)
        }
    }
}
