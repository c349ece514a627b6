import Testing

@testable import NeuralNet

/// A rank's virtual shards in one pass: each row's output as if its shard ran alone, the parameter gradients the
/// shards' tree sum `(g0 + g1) + (g2 + g3)`, the same bits on every thread count and vector instance.
@Suite("Shardwise passes", .serialized)
struct ShardwisePassTests {
    /// An MLP with odd sizes (every tile has a tail), dropout keyed per shard.
    static func model(dropout: Float = 0.25) throws -> Sequential {
        try Sequential(
            [Linear(inputs: 37, outputs: 45), ReLU(), Dropout(probability: dropout), Linear(inputs: 45, outputs: 7)],
            inputShape: [37], seed: 3)
    }

    static func batch(rows: Int, seed: UInt64) -> (Tensor, Tensor) {
        var random = CounterRandom(seed: seed, stream: 5)
        let x = Tensor(shape: [rows, 37], values: (0..<(rows * 37)).map { _ in random.nextUniform() * 2 - 1 })
        let y = Tensor(shape: [rows], values: (0..<rows).map { _ in Float(random.nextInt(below: 7)) })
        return (x, y)
    }

    static func keys(_ shards: Int) -> [UInt64] { (0..<shards).map { CounterRandom.derive(77, UInt64($0)) } }

    /// A shard's part of the global batch's mean loss gradient, as the virtual-shard trainer forms it.
    static func shardGradient(_ output: Tensor, _ targets: Tensor, shards: Int) throws -> Tensor {
        let (_, gradient) = try SoftmaxCrossEntropy().valueAndGradient(predictions: output, targets: targets)
        return Tensor(shape: gradient.shape, values: gradient.values.map { $0 * (1 / Float(shards)) })
    }

    /// The output and the gradients of one shardwise pass over `shards` shards of `rows` rows.
    static func onePass(shards: Int, rows: Int) throws -> (output: [Float], gradients: [Float]) {
        let model = try Self.model()
        let (x, y) = Self.batch(rows: shards * rows, seed: 1)
        let output = try model.forward(x, shards: shards, shardKeys: Self.keys(shards))
        let gradients = try (0..<shards).map { shard in
            let range = shard * rows..<(shard + 1) * rows
            return try Self.shardGradient(output.rows(range), y.rows(range), shards: shards)
        }
        try model.backward(Tensor(concatenatingRows: gradients), shards: shards)
        return (output.values, Array(model.arena.gradients))
    }

    @Test("one pass over 8 shards: each shard's rows and gradients are those of its own pass, summed in the tree")
    func onePassIsEachShardAlone() throws {
        let (shards, rows) = (8, 3)
        let whole = try Self.onePass(shards: shards, rows: rows)
        let model = try Self.model()
        let (x, y) = Self.batch(rows: shards * rows, seed: 1)
        var outputs: [Float] = []
        var level: [[Float]] = []
        for shard in 0..<shards {
            let range = shard * rows..<(shard + 1) * rows
            let output = try model.forward(x.rows(range), shards: 1, shardKeys: [Self.keys(shards)[shard]])
            try model.backward(try Self.shardGradient(output, y.rows(range), shards: shards), shards: 1)
            outputs += output.values
            level.append(Array(model.arena.gradients))
        }
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { first in zip(level[first], level[first + 1]).map { $0 + $1 } }
        }
        #expect(whole.output.map(\.bitPattern) == outputs.map(\.bitPattern))
        #expect(whole.gradients.map(\.bitPattern) == level[0].map(\.bitPattern))
    }

    @Test("the shardwise gradient is the whole batch's gradient, up to rounding (without dropout)")
    func matchesTheWholeBatch() throws {
        let shardwise = try Self.model(dropout: 0)
        let plain = try Self.model(dropout: 0)
        let (x, y) = Self.batch(rows: 32, seed: 2)
        let loss = SoftmaxCrossEntropy()
        let output = try shardwise.forward(x, shards: 4, shardKeys: Self.keys(4))
        try shardwise.backward(try loss.valueAndGradient(predictions: output, targets: y).gradient, shards: 4)
        let reference = try plain.forward(x, context: LayerContext(training: true, randomKey: 0))
        try plain.backward(try loss.valueAndGradient(predictions: reference, targets: y).gradient, accumulate: false, progress: nil)
        #expect(zip(output.values, reference.values).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(zip(shardwise.arena.gradients, plain.arena.gradients).allSatisfy { abs($0 - $1) <= 1e-5 })
        #expect(shardwise.arena.gradients.contains { $0 != 0 }, "every parameter gets its gradient")
    }

    @Test("1, 2 and 4 compute threads, and the AVX2 and AVX-512 instances, give the same bits; the baseline rounds alike")
    func sameBitsEverywhere() throws {
        // Products large enough to be shared among the threads; an instance is chosen for the test's own thread, so
        // its passes run on one thread.
        func pass(threads: Int, instance: Int? = nil) throws -> [UInt32] {
            let saved = BLAS.threadCount
            BLAS.threadCount = threads
            if let instance { _ = ShardKernels.useInstance(instance) }
            defer {
                BLAS.threadCount = saved
                _ = ShardKernels.useInstance(-1)
            }
            let model = try Sequential.multilayerPerceptron(inputs: 300, hidden: [200], outputs: 10, seed: 1)
            var random = CounterRandom(seed: 4, stream: 1)
            let x = Tensor(shape: [64, 300], values: (0..<(64 * 300)).map { _ in random.nextUniform() })
            let y = Tensor(shape: [64], values: (0..<64).map { _ in Float(random.nextInt(below: 10)) })
            let output = try model.forward(x, shards: 8, shardKeys: Self.keys(8))
            try model.backward(try SoftmaxCrossEntropy().valueAndGradient(predictions: output, targets: y).gradient, shards: 8)
            return (output.values + Array(model.arena.gradients)).map(\.bitPattern)
        }
        let best = ShardKernels.useInstance(-1)
        let reference = try pass(threads: 1)
        #expect(try pass(threads: 2) == reference)
        #expect(try pass(threads: 4) == reference)
        if best == 2 { #expect(try pass(threads: 1, instance: 1) == reference, "AVX2 and AVX-512 differ") }
        let baseline = try pass(threads: 1, instance: 0).map(Float.init(bitPattern:))
        #expect(zip(baseline, reference.map(Float.init(bitPattern:))).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        if best == 0 { print("note: this CPU has no vector instance: only the baseline was compared") }
    }

    @Test("a shardwise backward pass needs its forward pass, and a batch that is not whole shards is refused")
    func misuse() throws {
        let model = try Self.model()
        let (x, _) = Self.batch(rows: 10, seed: 3)
        #expect(throws: ModelError.self) { try model.forward(x, shards: 4, shardKeys: Self.keys(4)) }
        #expect(throws: ModelError.self) { try model.forward(x, shards: 2, shardKeys: Self.keys(3)) }
        _ = try model.forward(x, context: LayerContext(training: true, randomKey: 1))
        #expect(throws: ModelError.self) { try model.backward(Tensor(shape: [10, 7], repeating: 0), shards: 2) }
        _ = try model.forward(x, shards: 2, shardKeys: Self.keys(2))
        #expect(throws: ModelError.self) { try model.backward(Tensor(shape: [10, 7], repeating: 0), accumulate: false, progress: nil) }
        let custom = try Sequential([Linear(inputs: 37, outputs: 4), Tanh()], inputShape: [37], seed: 0)
        #expect(!custom.runsShardsInOnePass, "a layer that is not shardwise keeps the model to one pass per shard")
        let declared = try Sequential([Linear(inputs: 37, outputs: 4), RowScale()], inputShape: [37], seed: 0)
        #expect(!declared.runsShardsInOnePass, "a row-wise layer with parameters cannot sum them in the shards' tree")
        #expect(try Self.model().runsShardsInOnePass)
    }
}

/// A layer that declares itself row-wise but has a parameter (its gradient would not be the shards' tree).
private final class RowScale: RowwiseKernelLayer {
    private var scale = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    func configure(inputShape: [Int]) throws -> [Int] { inputShape }
    var parameterShapes: [(suffix: String, shape: [Int])] { [("scale", [1])] }
    func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) { scale = parameters[0] }
    func forward(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool, randomKey: UInt64) {}
    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool
    ) {}
}
