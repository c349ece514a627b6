import Autodiff
import EngineCore
import NeuralNet
import Testing
import Training
import _Differentiation

/// Sequence classification: the class is the first token of a sequence of `time` random tokens (so a model must
/// carry it across time).
enum FirstTokenTask {
    static let vocabulary = 4, time = 6

    static func batches(count: Int, batch: Int, seed: UInt64) -> [SupervisedBatch] {
        var random = CounterRandom(seed: seed, stream: 4)
        return (0..<count).map { _ in
            let tokens = (0..<(batch * time)).map { _ in Float(Int(random.next() % UInt64(vocabulary))) }
            let labels = (0..<batch).map { tokens[$0 * time] }
            return SupervisedBatch(inputs: Tensor(shape: [batch, time], values: tokens), targets: Tensor(shape: [batch], values: labels))
        }
    }
}

/// Trains `model` with Adam and softmax cross-entropy over `batches` for `epochs`; returns the mean loss of the
/// first and of the last epoch.
func trainedLosses(_ model: any Model, _ batches: [SupervisedBatch], epochs: Int, learningRate: Double = 1e-2) throws -> (first: Float, last: Float) {
    let trainer = makeSupervisedTrainer(model: model, optimizer: Adam(arena: model.arena, learningRate: learningRate), loss: SoftmaxCrossEntropy())
    var sums: [Float] = []
    try trainer.on(.epochStarted) { _ in sums.append(0) }
    try trainer.on(.iterationCompleted) { engine in sums[sums.count - 1] += engine.state.output!.loss }
    try trainer.run(batches, maxEpochs: epochs)
    return (sums.first! / Float(batches.count), sums.last! / Float(batches.count))
}

struct RecurrentClassifier: DifferentiableModel {
    var embedding: Embedding, lstm: LSTM, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { head(lstm(embedding(x)).state.hidden) }
}

struct GRUClassifier: DifferentiableModel {
    var embedding: Embedding, gru: GRU, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { head(gru(embedding(x)).state.hidden) }
}

struct TinyTransformer: DifferentiableModel {
    var tokens: Embedding, positions: DTensor, block: TransformerBlock, norm: LayerNorm, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        let h = norm(block(tokens(x) + positions))
        return head(mean(h, axis: 1))
    }
}

struct AttentionOnly: DifferentiableModel {
    var tokens: Embedding, positions: DTensor, attention: MultiHeadAttention, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { head(sum(attention(tokens(x) + positions), axis: 1)) }
}

struct BatchNormCNN: DifferentiableModel {
    var conv: Conv2DLayer, norm: BatchNorm, conv2: Conv2DLayer, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        let h = relu(norm(conv(x)))
        return head(globalAvgPool2d(relu(conv2(avgPool2d(h, size: 2)))))
    }
}

struct NormalizedMLP: DifferentiableModel {
    var input: Dense, norm: LayerNorm, features: BatchNorm, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { head(silu(features(norm(input(x))))) }
}

@Suite("Every layer trains in the library's supervised trainer")
struct LayerTrainingTests {
    @Test("Embedding + LSTM learns to carry the first token across the sequence")
    func lstmTrains() throws {
        var random = CounterRandom(seed: 1, stream: 1)
        let model = try AutodiffModel(
            RecurrentClassifier(
                embedding: Embedding(vocabulary: 4, width: 8, random: &random),
                lstm: LSTM(inputs: 8, hidden: 16, random: &random),
                head: Dense(inputs: 16, outputs: 4, random: &random)),
            inputShape: [FirstTokenTask.time], outputShape: [4])
        let losses = try trainedLosses(model, FirstTokenTask.batches(count: 20, batch: 16, seed: 1), epochs: 12)
        #expect(losses.last < 0.2 * losses.first, "\(losses)")
    }

    @Test("Embedding + GRU learns to carry the first token across the sequence")
    func gruTrains() throws {
        var random = CounterRandom(seed: 2, stream: 1)
        let model = try AutodiffModel(
            GRUClassifier(
                embedding: Embedding(vocabulary: 4, width: 8, random: &random),
                gru: GRU(inputs: 8, hidden: 16, random: &random),
                head: Dense(inputs: 16, outputs: 4, random: &random)),
            inputShape: [FirstTokenTask.time], outputShape: [4])
        let losses = try trainedLosses(model, FirstTokenTask.batches(count: 20, batch: 16, seed: 2), epochs: 12)
        #expect(losses.last < 0.2 * losses.first, "\(losses)")
    }

    @Test("a one-block transformer (embedding, positions, pre-norm block, layer norm) finds the first token")
    func transformerTrains() throws {
        var random = CounterRandom(seed: 3, stream: 1)
        let width = 16
        let model = try AutodiffModel(
            TinyTransformer(
                tokens: Embedding(vocabulary: 4, width: width, random: &random),
                positions: DTensor(
                    parameterShape: [FirstTokenTask.time, width],
                    values: GradientChecking.random(FirstTokenTask.time * width, seed: 5)),
                block: TransformerBlock(width: width, heads: 2, causal: false, random: &random),
                norm: LayerNorm(width: width), head: Dense(inputs: width, outputs: 4, random: &random)),
            inputShape: [FirstTokenTask.time], outputShape: [4])
        let losses = try trainedLosses(model, FirstTokenTask.batches(count: 20, batch: 16, seed: 3), epochs: 12)
        #expect(losses.last < 0.2 * losses.first, "\(losses)")
    }

    @Test("causal multi-head attention alone learns the task (every position sees the first token)")
    func attentionTrains() throws {
        var random = CounterRandom(seed: 4, stream: 1)
        let width = 16
        let model = try AutodiffModel(
            AttentionOnly(
                tokens: Embedding(vocabulary: 4, width: width, random: &random),
                positions: DTensor(
                    parameterShape: [FirstTokenTask.time, width],
                    values: GradientChecking.random(FirstTokenTask.time * width, seed: 6)),
                attention: MultiHeadAttention(width: width, heads: 4, causal: true, random: &random),
                head: Dense(inputs: width, outputs: 4, random: &random)),
            inputShape: [FirstTokenTask.time], outputShape: [4])
        let losses = try trainedLosses(model, FirstTokenTask.batches(count: 20, batch: 16, seed: 4), epochs: 12)
        #expect(losses.last < 0.2 * losses.first, "\(losses)")
    }

    @Test("a CNN with strided convolution, batch norm and average pooling learns where the bright square is")
    func batchNormCNNTrains() throws {
        var random = CounterRandom(seed: 5, stream: 1)
        let model = try AutodiffModel(
            BatchNormCNN(
                conv: Conv2DLayer(channels: 1, filters: 8, stride: 2, padding: 1, random: &random),
                norm: BatchNorm(features: 8),
                conv2: Conv2DLayer(channels: 8, filters: 8, random: &random),
                head: Dense(inputs: 8, outputs: 4, random: &random)),
            inputShape: [1, 8, 8], outputShape: [4])
        let losses = try trainedLosses(model, QuadrantTask.batches(count: 16, batch: 16, seed: 5), epochs: 10)
        #expect(losses.last < 0.2 * losses.first, "\(losses)")
        #expect(try model.arena.buffer(named: "norm.runningMean").values.contains { $0 != 0 }, "running statistics moved")
    }

    @Test("layer norm, batch norm 1-d and SiLU in an MLP")
    func normalizedMLPTrains() throws {
        var random = CounterRandom(seed: 6, stream: 1)
        let model = try AutodiffModel(
            NormalizedMLP(
                input: Dense(inputs: 64, outputs: 16, random: &random), norm: LayerNorm(width: 16),
                features: BatchNorm(features: 16), head: Dense(inputs: 16, outputs: 4, random: &random)),
            inputShape: [64], outputShape: [4])
        let batches = QuadrantTask.batches(count: 16, batch: 16, seed: 6).map {
            SupervisedBatch(inputs: Tensor(shape: [$0.inputs.rows, 64], values: $0.inputs.values), targets: $0.targets)
        }
        let losses = try trainedLosses(model, batches, epochs: 10)
        #expect(losses.last < 0.2 * losses.first, "\(losses)")
    }
}

/// 8 x 8 images with a bright 3 x 3 square in one of four quadrants (the class), on noise.
enum QuadrantTask {
    static func batches(count: Int, batch: Int, seed: UInt64) -> [SupervisedBatch] {
        var random = CounterRandom(seed: seed, stream: 6)
        return (0..<count).map { _ in
            var images = [Float]()
            var labels = [Float]()
            for _ in 0..<batch {
                let quadrant = Int(random.next() % 4)
                var image = (0..<64).map { _ in random.nextUniform() * 0.3 }
                let top = (quadrant / 2) * 4 + Int(random.next() % 2)
                let left = (quadrant % 2) * 4 + Int(random.next() % 2)
                for y in top..<(top + 3) { for x in left..<(left + 3) { image[y * 8 + x] += 1 } }
                images += image
                labels.append(Float(quadrant))
            }
            return SupervisedBatch(inputs: Tensor(shape: [batch, 1, 8, 8], values: images), targets: Tensor(shape: [batch], values: labels))
        }
    }
}

/// The workarounds the README gives for the two compiler crashes, compiled and run: index arrays from
/// `integerValues` (not a `map` closure capturing the input), carried state that is never an Optional.
struct ReadsItsInput: DifferentiableModel {
    var embedding: Embedding, lstm: LSTM, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        let ids = x.integerValues
        let batch = x.shape[0]
        let time = x.shape[1]
        let reversed = (0..<ids.count).map { ids[($0 / time) * time + time - 1 - $0 % time] }
        var state = lstm.zeroState(batch: batch)
        for t in 0..<time {
            state = lstm(embedding(Array(reversed[(t * batch)..<((t + 1) * batch)]), shape: [batch, 1]), state: state).state
        }
        return head(state.hidden)
    }
}

@Suite("Differentiable code written around the compiler's crashes")
struct CompilerCrashWorkaroundTests {
    @Test("index arrays from integerValues and state carried step by step from zeroState compile and train")
    func workaroundsTrain() throws {
        var random = CounterRandom(seed: 9, stream: 1)
        let model = try AutodiffModel(
            ReadsItsInput(
                embedding: Embedding(vocabulary: 4, width: 8, random: &random),
                lstm: LSTM(inputs: 8, hidden: 16, random: &random),
                head: Dense(inputs: 16, outputs: 4, random: &random)),
            inputShape: [FirstTokenTask.time], outputShape: [4])
        let losses = try trainedLosses(model, FirstTokenTask.batches(count: 10, batch: 16, seed: 9), epochs: 4)
        #expect(losses.last < losses.first, "\(losses)")
    }
}
