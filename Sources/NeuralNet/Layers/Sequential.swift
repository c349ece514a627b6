/// A chain of layers over one parameter arena, with activation buffers reused from step to step.
///
/// ```swift
/// let model = try Sequential([Linear(inputs: 64, outputs: 128), ReLU(), Linear(inputs: 128, outputs: 10)],
///                            inputShape: [64], seed: 0)
/// let logits = try model(Tensor(shape: [32, 64], repeating: 0))   // [32, 10]
/// ```
public final class Sequential: Model, ReplicableModel, ShardwiseModel {
    /// The layers, in order.
    public let layers: [any Layer]
    /// All parameters and gradients; parameter names are "LAYER_INDEX.SUFFIX" ("0.weight").
    public let arena: ParameterArena
    /// Per-sample input shape and per-layer output shapes.
    public let shapes: [[Int]]
    private let chain: LayerChain
    private let layerOffsets: [Int]
    /// The input of the last forward pass, kept alive for backward.
    private var lastInput: Tensor?

    /// Builds the model for samples of `inputShape` and initialises it from `seed`.
    /// - Throws: `LayerError` when a layer cannot take the shape before it.
    public init(_ layers: [any Layer], inputShape: [Int], seed: UInt64) throws {
        self.layers = layers
        chain = try LayerChain(layers, inputShape: inputShape)
        shapes = chain.shapes
        arena = ParameterArena(layout: chain.parameterShapes.map { ($0.suffix, $0.shape) })
        chain.bind(parameters: arena.entries.map(arena.parameters(of:)), gradients: arena.entries.map(arena.gradients(of:)))
        var offsets: [Int] = []
        var entryIndex = 0
        for (index, layer) in chain.layers.enumerated() {
            offsets.append(entryIndex < arena.entries.count ? arena.entries[entryIndex].offset : arena.count)
            var random = CounterRandom(seed: seed, stream: CounterRandom.streamKey(purpose: "init", UInt64(index)))
            layer.initialize(using: &random)
            entryIndex += chain.parameterCounts[index]
        }
        layerOffsets = offsets
    }

    /// A replica of `original` from replicas of its layers: the same parameters, its own activations and gradients.
    private init(replicaOf original: Sequential, layers: [any Layer]) throws {
        self.layers = layers
        chain = try LayerChain(layers, inputShape: original.inputShape)
        shapes = chain.shapes
        arena = ParameterArena(sharingParametersOf: original.arena)
        chain.bind(parameters: arena.entries.map(arena.parameters(of:)), gradients: arena.entries.map(arena.gradients(of:)))
        layerOffsets = original.layerOffsets
    }

    /// A replica for another micro-batch of the same step; nil when a layer makes no replicas (a `TensorLayer`).
    public func makeReplica() throws -> (any Model)? {
        var replicas: [any Layer] = []
        for layer in chain.layers {
            guard let replica = layer.makeReplica() else { return nil }
            replicas.append(replica)
        }
        return try Sequential(replicaOf: self, layers: replicas)
    }

    public var inputShape: [Int] { shapes[0] }
    public var outputShape: [Int] { shapes.last! }
    /// Values per sample of the output (classes for a classifier).
    public var outputCount: Int { chain.outputCount }
    /// Values per sample of the input.
    public var inputCount: Int { chain.inputCount }

    public func forward(_ input: Tensor, context: LayerContext) throws -> Tensor {
        guard input.shape.count == inputShape.count + 1, Array(input.shape.dropFirst()) == inputShape else {
            throw ModelError.badInput(expected: inputShape, found: input.shape)
        }
        let batch = input.shape[0]
        guard batch > 0 else { throw ModelError.badInput(expected: inputShape, found: input.shape) }
        lastInput = input
        return input.values.withUnsafeBufferPointer { x in
            let output = chain.forward(
                x.baseAddress!, batch: batch,
                training: context.training, randomKey: context.randomKey)
            return Tensor(shape: [batch] + outputShape, copying: UnsafeBufferPointer(start: output, count: batch * outputCount))
        }
    }

    /// Whether every layer is a `ShardwiseKernelLayer` (Linear, ReLU, Dropout, Flatten).
    public var runsShardsInOnePass: Bool { chain.shardwiseLayers != nil }

    public func forward(_ input: Tensor, shards: Int, shardKeys: [UInt64]) throws -> Tensor {
        guard input.shape.count == inputShape.count + 1, Array(input.shape.dropFirst()) == inputShape, shards > 0,
            input.shape[0] > 0, input.shape[0] % shards == 0, shardKeys.count == shards
        else { throw ModelError.badInput(expected: inputShape, found: input.shape) }
        precondition(runsShardsInOnePass, "a shardwise pass through a Sequential whose layers are not all shardwise")
        let batch = input.shape[0]
        lastInput = input
        return input.values.withUnsafeBufferPointer { x in
            let output = chain.forward(x.baseAddress!, shards: shards, rowsPerShard: batch / shards, shardKeys: shardKeys)
            return Tensor(shape: [batch] + outputShape, copying: UnsafeBufferPointer(start: output, count: batch * outputCount))
        }
    }

    public func backward(_ outputGradient: Tensor, shards: Int) throws {
        guard let lastInput, chain.lastShards == shards else { throw ModelError.backwardBeforeForward }
        let expected = [lastInput.shape[0]] + outputShape
        guard outputGradient.shape == expected else {
            throw ModelError.badOutputGradient(expected: expected, found: outputGradient.shape)
        }
        lastInput.values.withUnsafeBufferPointer { input in
            outputGradient.values.withUnsafeBufferPointer { gradient in
                chain.backward(input: input.baseAddress!, outputGradient: gradient.baseAddress!, shards: shards)
            }
        }
    }

    public func backward(_ outputGradient: Tensor, accumulate: Bool, progress: ((Int) -> Void)?) throws {
        guard let lastInput, chain.lastShards == 0 else { throw ModelError.backwardBeforeForward }
        let expected = [lastInput.shape[0]] + outputShape
        guard outputGradient.shape == expected else {
            throw ModelError.badOutputGradient(expected: expected, found: outputGradient.shape)
        }
        lastInput.values.withUnsafeBufferPointer { input in
            outputGradient.values.withUnsafeBufferPointer { gradient in
                chain.backward(
                    input: input.baseAddress!, outputGradient: gradient.baseAddress!, inputGradient: nil, accumulate: accumulate,
                    layerDone: progress.map { report in { [layerOffsets] index in report(layerOffsets[index]) } })
            }
        }
    }

    /// An MLP: Linear + ReLU per hidden width, then a Linear to `outputs`.
    public static func multilayerPerceptron(inputs: Int, hidden: [Int], outputs: Int, seed: UInt64) throws -> Sequential {
        var layers: [any Layer] = []
        var width = inputs
        for size in hidden {
            layers.append(Linear(inputs: width, outputs: size))
            layers.append(ReLU())
            width = size
        }
        layers.append(Linear(inputs: width, outputs: outputs))
        return try Sequential(layers, inputShape: [inputs], seed: seed)
    }

    /// A small CNN for images: conv3x3-8, ReLU, pool 2, conv3x3-16, ReLU, pool 2, flatten, linear.
    public static func smallConvolutional(channels: Int, height: Int, width: Int, outputs: Int, seed: UInt64) throws
        -> Sequential
    {
        let flat = 16 * (height / 4) * (width / 4)
        return try Sequential(
            [
                Conv2D(inputChannels: channels, outputChannels: 8), ReLU(), MaxPool2D(size: 2),
                Conv2D(inputChannels: 8, outputChannels: 16), ReLU(), MaxPool2D(size: 2),
                Flatten(), Linear(inputs: flat, outputs: outputs)
            ], inputShape: [channels, height, width], seed: seed)
    }
}
