import Foundation

/// Element-wise layers: the shape passes through unchanged.
public class ElementwiseLayer: KernelLayer {
    /// Values per sample, known after `configure`.
    public private(set) var width = 0

    public func configure(inputShape: [Int]) throws -> [Int] {
        width = inputShape.reduce(1, *)
        return inputShape
    }

    /// A new layer of the same kind for a model replica (each subclass makes its own).
    public func makeReplica() -> (any KernelLayer)? { nil }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
        randomKey: UInt64
    ) {
        fatalError("subclass responsibility")
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool
    ) {
        fatalError("subclass responsibility")
    }
}

/// max(0, x).
public final class ReLU: ElementwiseLayer {
    /// A ReLU.
    public override init() {}

    /// A new ReLU.
    public override func makeReplica() -> (any KernelLayer)? { ReLU() }

    public override func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int,
        training: Bool, randomKey: UInt64
    ) {
        Kernels.reluForward(input, output, count: batch * width)
    }

    public override func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        batch: Int, accumulate: Bool
    ) {
        guard let inputGradient else { return }
        Kernels.reluBackward(
            output: output, outputGradient: outputGradient, inputGradient: inputGradient,
            count: batch * width)
    }
}

/// tanh(x).
public final class Tanh: ElementwiseLayer {
    /// A tanh.
    public override init() {}

    /// A new Tanh.
    public override func makeReplica() -> (any KernelLayer)? { Tanh() }

    public override func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int,
        training: Bool, randomKey: UInt64
    ) {
        for index in 0..<(batch * width) { output[index] = tanh(input[index]) }
    }

    public override func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        batch: Int, accumulate: Bool
    ) {
        guard let inputGradient else { return }
        for index in 0..<(batch * width) { inputGradient[index] = outputGradient[index] * (1 - output[index] * output[index]) }
    }
}

/// 1 / (1 + e^-x).
public final class Sigmoid: ElementwiseLayer {
    /// A sigmoid.
    public override init() {}

    /// A new Sigmoid.
    public override func makeReplica() -> (any KernelLayer)? { Sigmoid() }

    public override func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int,
        training: Bool, randomKey: UInt64
    ) {
        for index in 0..<(batch * width) { output[index] = 1 / (1 + exp(-input[index])) }
    }

    public override func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        batch: Int, accumulate: Bool
    ) {
        guard let inputGradient else { return }
        for index in 0..<(batch * width) { inputGradient[index] = outputGradient[index] * output[index] * (1 - output[index]) }
    }
}

/// Zeroes each value with probability p while training and scales the rest by 1/(1-p); identity otherwise.
///
/// The mask is a pure function of the step's random key and the value's position, so backward recomputes
/// it instead of storing it, and a resumed run draws the same masks.
public final class Dropout: ElementwiseLayer {
    /// Probability of dropping a value.
    public let probability: Float
    private var lastKey: UInt64 = 0
    /// The keys of the shards of the last shardwise pass.
    private var lastShardKeys: [UInt64] = []
    private let layerSalt: UInt64

    /// A dropout of probability `probability` in [0, 1) (another is a `LayerError` when a model is built from it).
    public init(probability: Float, salt: UInt64 = 0) {
        self.probability = probability
        layerSalt = salt
    }

    /// A new dropout of the same probability and salt (the same masks for the same keys).
    public override func makeReplica() -> (any KernelLayer)? { Dropout(probability: probability, salt: layerSalt) }

    public override func configure(inputShape: [Int]) throws -> [Int] {
        guard probability >= 0 && probability < 1 else {
            throw LayerError.invalidArgument(
                layer: "Dropout(probability: \(probability))", argument: "probability",
                expected: "in [0, 1) (1 would drop everything and scale by infinity)")
        }
        return try super.configure(inputShape: inputShape)
    }

    @inline(__always)
    private func keeps(_ random: CounterRandom, _ index: Int) -> Bool {
        Float(random.value(at: UInt64(index)) >> 40) * 0x1p-24 >= probability
    }

    public override func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int,
        training: Bool, randomKey: UInt64
    ) {
        let count = batch * width
        guard training, probability > 0 else {
            output.update(from: input, count: count)
            return
        }
        lastKey = randomKey
        let random = CounterRandom(seed: randomKey, stream: layerSalt)
        let scale = 1 / (1 - probability)
        for index in 0..<count {
            let value = input[index] * scale
            output[index] = keeps(random, index) ? value : 0
        }
    }

    public override func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        batch: Int, accumulate: Bool
    ) {
        guard let inputGradient else { return }
        let count = batch * width
        guard probability > 0 else {
            inputGradient.update(from: outputGradient, count: count)
            return
        }
        let random = CounterRandom(seed: lastKey, stream: layerSalt)
        let scale = 1 / (1 - probability)
        for index in 0..<count {
            let value = outputGradient[index] * scale
            inputGradient[index] = keeps(random, index) ? value : 0
        }
    }
}

/// Reshapes [C, H, W] samples to flat vectors (a no-op on the data).
public final class Flatten: ElementwiseLayer {
    /// A flatten.
    public override init() {}

    /// A new Flatten.
    public override func makeReplica() -> (any KernelLayer)? { Flatten() }

    public override func configure(inputShape: [Int]) throws -> [Int] {
        _ = try super.configure(inputShape: inputShape)
        return [width]
    }

    public override func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int,
        training: Bool, randomKey: UInt64
    ) {
        output.update(from: input, count: batch * width)
    }

    public override func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        batch: Int, accumulate: Bool
    ) {
        inputGradient?.update(from: outputGradient, count: batch * width)
    }
}

extension Dropout: ShardwiseKernelLayer {
    /// Each shard's rows masked by its own key, as a pass of its own draws them.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, shards: Int, rowsPerShard: Int,
        shardKeys: [UInt64]
    ) {
        precondition(shardKeys.count == shards, "one key per shard")
        let stride = rowsPerShard * width
        for shard in 0..<shards {
            forward(input + shard * stride, output + shard * stride, batch: rowsPerShard, training: true, randomKey: shardKeys[shard])
        }
        lastShardKeys = shardKeys
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, shards: Int, rowsPerShard: Int
    ) {
        guard let inputGradient else { return }
        precondition(lastShardKeys.count == shards, "a shardwise backward pass after another forward pass")
        let stride = rowsPerShard * width
        for shard in 0..<shards {
            lastKey = lastShardKeys[shard]
            backward(
                input: input + shard * stride, output: output + shard * stride, outputGradient: outputGradient + shard * stride,
                inputGradient: inputGradient + shard * stride, batch: rowsPerShard, accumulate: false)
        }
    }
}
