/// Layers run one after another over reusable activation buffers: the engine of `Sequential` and `Residual`.
///
/// Parameters are named "INDEX.SUFFIX" ("0.weight"); a nested chain's parameters are prefixed by its index.
final class LayerChain {
    let layers: [any KernelLayer]
    /// Per-sample input shape, then each layer's output shape.
    let shapes: [[Int]]
    /// Each layer's first position in the chain's parameter list.
    let parameterCounts: [Int]
    private var capacity = 0
    private var activations: [UnsafeMutablePointer<Float>] = []
    private var activationGradients: [UnsafeMutablePointer<Float>] = []
    private(set) var lastBatch = 0
    /// The layers as shardwise ones when every layer is (`ShardwiseKernelLayer`), else nil.
    let shardwiseLayers: [any ShardwiseKernelLayer]?
    /// The shard count of the last forward pass when it was shardwise, else 0.
    private(set) var lastShards = 0

    init(_ layers: [any Layer], inputShape: [Int]) throws {
        self.layers = try layers.map(kernel(of:))
        var shapes = [inputShape]
        for layer in self.layers { shapes.append(try layer.configure(inputShape: shapes.last!)) }
        self.shapes = shapes
        parameterCounts = self.layers.map { $0.parameterShapes.count }
        let shardwise = self.layers.compactMap { layer -> (any ShardwiseKernelLayer)? in
            // A row-wise layer has no parameters to sum in the shards' tree; one that has them cannot pass as one.
            if layer is any RowwiseKernelLayer && !layer.parameterShapes.isEmpty { return nil }
            return layer as? any ShardwiseKernelLayer
        }
        shardwiseLayers = shardwise.count == self.layers.count ? shardwise : nil
    }

    deinit { release() }

    var parameterShapes: [(suffix: String, shape: [Int])] {
        layers.enumerated().flatMap { index, layer in layer.parameterShapes.map { ("\(index).\($0.suffix)", $0.shape) } }
    }

    func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) {
        var start = 0
        for (layer, count) in zip(layers, parameterCounts) {
            layer.bind(parameters: Array(parameters[start..<(start + count)]), gradients: Array(gradients[start..<(start + count)]))
            start += count
        }
    }

    var outputCount: Int { shapes.last!.reduce(1, *) }
    var inputCount: Int { shapes[0].reduce(1, *) }

    private func release() {
        for buffer in activations + activationGradients { buffer.deallocate() }
        activations = []
        activationGradients = []
    }

    private func reserve(batch: Int) {
        guard batch > capacity else { return }
        release()
        for shape in shapes.dropFirst() {
            let size = batch * shape.reduce(1, *)
            activations.append(.allocate(capacity: max(1, size)))
            activationGradients.append(.allocate(capacity: max(1, size)))
        }
        capacity = batch
    }

    /// Runs every layer; returns the last activation buffer (valid until the next forward).
    func forward(_ input: UnsafePointer<Float>, batch: Int, training: Bool, randomKey: UInt64) -> UnsafePointer<Float> {
        reserve(batch: batch)
        var current = input
        for (index, layer) in layers.enumerated() {
            let key = randomKey == 0 ? 0 : CounterRandom.derive(randomKey, UInt64(index))
            layer.forward(current, activations[index], batch: batch, training: training, randomKey: key)
            current = UnsafePointer(activations[index])
        }
        lastBatch = batch
        lastShards = 0
        return current
    }

    /// Runs every layer over `shards` shards of `rowsPerShard` rows in one pass, shard `s`'s draws keyed as a pass of
    /// its own with key `shardKeys[s]` would key them; returns the last activation buffer.
    func forward(_ input: UnsafePointer<Float>, shards: Int, rowsPerShard: Int, shardKeys: [UInt64]) -> UnsafePointer<Float> {
        guard let shardwiseLayers else { preconditionFailure("a shardwise pass through a layer that is not shardwise") }
        let batch = shards * rowsPerShard
        reserve(batch: batch)
        var current = input
        for (index, layer) in shardwiseLayers.enumerated() {
            let keys = shardKeys.map { $0 == 0 ? 0 : CounterRandom.derive($0, UInt64(index)) }
            layer.forward(current, activations[index], shards: shards, rowsPerShard: rowsPerShard, shardKeys: keys)
            current = UnsafePointer(activations[index])
        }
        lastBatch = batch
        lastShards = shards
        return current
    }

    /// Back-propagates through the last shardwise forward pass of `input`: parameter gradients as the shards' tree sum.
    func backward(input lastInput: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, shards: Int) {
        guard let shardwiseLayers else { preconditionFailure("a shardwise pass through a layer that is not shardwise") }
        precondition(lastShards == shards && shards > 0, "a shardwise backward pass without its forward pass")
        var gradient = outputGradient
        for index in shardwiseLayers.indices.reversed() {
            let input = index == 0 ? lastInput : UnsafePointer(activations[index - 1])
            shardwiseLayers[index].backward(
                input: input, output: activations[index], outputGradient: gradient,
                inputGradient: index == 0 ? nil : activationGradients[index - 1], shards: shards,
                rowsPerShard: lastBatch / shards)
            if index > 0 { gradient = UnsafePointer(activationGradients[index - 1]) }
        }
    }

    /// Back-propagates through the last forward of `input`; `layerDone(index)` runs after each layer's
    /// gradients are final.
    func backward(
        input lastInput: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, accumulate: Bool, layerDone: ((Int) -> Void)? = nil
    ) {
        precondition(lastBatch > 0, "backward before forward")
        var gradient = outputGradient
        for index in layers.indices.reversed() {
            let input = index == 0 ? lastInput : UnsafePointer(activations[index - 1])
            layers[index].backward(
                input: input, output: activations[index], outputGradient: gradient,
                inputGradient: index == 0 ? inputGradient : activationGradients[index - 1],
                batch: lastBatch, accumulate: accumulate)
            if index > 0 { gradient = UnsafePointer(activationGradients[index - 1]) }
            layerDone?(index)
        }
    }
}
