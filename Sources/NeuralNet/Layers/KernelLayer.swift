/// A layer written against raw row-major buffers: the explicit opt-in for hand-written kernels.
///
/// The model owns every buffer and reuses it from step to step, so a training step allocates nothing.
/// `configure` is called once with the per-sample input shape; `bind` hands the layer its views into the
/// arena (valid as long as the model lives); forward and backward then run for any batch size.
public protocol KernelLayer: Layer {
    /// Gives the layer its parameter and gradient views, in `parameterShapes` order.
    func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>])
    /// Draws initial parameters (PyTorch's defaults).
    func initialize(using random: inout CounterRandom)
    /// Computes `output` (batch x outputs) from `input` (batch x inputs).
    func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
        randomKey: UInt64)
    /// Writes (or adds, when `accumulate`) parameter gradients, and the input gradient when asked.
    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool)
    /// A new layer of the same configuration, not yet configured or bound, for a model replica that runs another
    /// micro-batch at the same time (its own scratch state; the model binds it to the shared parameters). nil, the
    /// default: the model runs whole batches.
    func makeReplica() -> (any KernelLayer)?
}

extension KernelLayer {
    /// None: a layer of your own keeps its model to whole batches unless it makes replicas.
    public func makeReplica() -> (any KernelLayer)? { nil }

    public func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) {}
    public func initialize(using random: inout CounterRandom) {}
}
