/// A chain of layers over one parameter arena, with activation buffers reused from step to step.
///
/// ```swift
/// let model = try Sequential([Linear(inputs: 64, outputs: 128), ReLU(), Linear(inputs: 128, outputs: 10)],
///                            inputShape: [64], seed: 0)
/// let logits = model.forward(x, batchSize: 32, training: true, randomKey: key)
/// ```
public final class Sequential {
    /// The layers, in order.
    public let layers: [any Layer]
    /// All parameters and gradients; parameter names are "LAYER_INDEX.SUFFIX" ("0.weight").
    public let arena: ParameterArena
    /// Per-sample input shape and per-layer output shapes.
    public let shapes: [[Int]]
    private var capacity = 0
    private var activations: [UnsafeMutablePointer<Float>] = []
    private var activationGradients: [UnsafeMutablePointer<Float>] = []
    private var lastInput: UnsafePointer<Float>?
    private var lastBatch = 0
    private let layerOffsets: [Int]

    /// Builds the model for samples of `inputShape` and initialises it from `seed`.
    /// - Throws: `LayerError` when a layer cannot take the shape before it.
    public init(_ layers: [any Layer], inputShape: [Int], seed: UInt64) throws {
        self.layers = layers
        var shapes = [inputShape]
        var layout: [(name: String, shape: [Int])] = []
        for (index, layer) in layers.enumerated() {
            shapes.append(try layer.configure(inputShape: shapes.last!))
            for parameter in layer.parameterShapes { layout.append(("\(index).\(parameter.suffix)", parameter.shape)) }
        }
        self.shapes = shapes
        arena = ParameterArena(layout: layout)
        var entryIndex = 0
        var offsets: [Int] = []
        for (index, layer) in layers.enumerated() {
            let count = layer.parameterShapes.count
            let entries = arena.entries[entryIndex..<(entryIndex + count)]
            offsets.append(entries.first?.offset ?? (entryIndex < arena.entries.count ? arena.entries[entryIndex].offset : arena.count))
            layer.bind(parameters: entries.map(arena.parameters(of:)), gradients: entries.map(arena.gradients(of:)))
            var random = CounterRandom(seed: seed, stream: CounterRandom.streamKey(purpose: "init", UInt64(index)))
            layer.initialize(using: &random)
            entryIndex += count
        }
        layerOffsets = offsets
    }

    deinit { release() }

    private func release() {
        for buffer in activations + activationGradients { buffer.deallocate() }
        activations = []
        activationGradients = []
    }

    /// Number of parameters.
    public var parameterCount: Int { arena.count }
    /// Values per sample of the output (classes for a classifier).
    public var outputCount: Int { shapes.last!.reduce(1, *) }
    /// Values per sample of the input.
    public var inputCount: Int { shapes[0].reduce(1, *) }

    private func reserve(batch: Int) {
        guard batch > capacity else { return }
        release()
        for shape in shapes.dropFirst() {
            let size = batch * shape.reduce(1, *)
            activations.append(.allocate(capacity: size))
            activationGradients.append(.allocate(capacity: size))
        }
        capacity = batch
    }

    /// Runs the layers on `input` (batchSize x inputs); returns a view of the output, valid until the next call.
    /// `randomKey` keys dropout masks; the same key gives the same masks.
    public func forward(_ input: UnsafeBufferPointer<Float>, batchSize: Int, training: Bool, randomKey: UInt64)
        -> UnsafeBufferPointer<Float>
    {
        precondition(input.count >= batchSize * inputCount, "input holds fewer than batchSize samples")
        reserve(batch: batchSize)
        var current = input.baseAddress!
        for (index, layer) in layers.enumerated() {
            let key = randomKey == 0 ? 0 : CounterRandom.derive(randomKey, UInt64(index))
            layer.forward(current, activations[index], batch: batchSize, training: training, randomKey: key)
            current = UnsafePointer(activations[index])
        }
        lastInput = input.baseAddress
        lastBatch = batchSize
        return UnsafeBufferPointer(start: current, count: batchSize * outputCount)
    }

    /// Back-propagates `outputGradient` through the last forward pass, writing (or, when `accumulate`,
    /// adding) the parameter gradients into the arena. After each layer, `gradientsReady(offset)` tells that
    /// every gradient at arena index >= offset is final.
    public func backward(outputGradient: UnsafeBufferPointer<Float>, accumulate: Bool,
                         gradientsReady: ((Int) -> Void)? = nil) {
        guard let lastInput else { preconditionFailure("backward before forward") }
        precondition(outputGradient.count >= lastBatch * outputCount, "output gradient too small")
        var gradient = outputGradient.baseAddress!
        for index in layers.indices.reversed() {
            let input = index == 0 ? lastInput : UnsafePointer(activations[index - 1])
            layers[index].backward(input: input, output: activations[index], outputGradient: gradient,
                                   inputGradient: index == 0 ? nil : activationGradients[index - 1],
                                   batch: lastBatch, accumulate: accumulate)
            if index > 0 { gradient = UnsafePointer(activationGradients[index - 1]) }
            gradientsReady?(layerOffsets[index])
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
        return try Sequential([
            Conv2D(inputChannels: channels, outputChannels: 8), ReLU(), MaxPool2D(size: 2),
            Conv2D(inputChannels: 8, outputChannels: 16), ReLU(), MaxPool2D(size: 2),
            Flatten(), Linear(inputs: flat, outputs: outputs),
        ], inputShape: [channels, height, width], seed: seed)
    }
}
