import Autodiff
import EngineCore
import NeuralNet
import Testing
import Training
import _Differentiation

/// A small MLP with dropout, so micro-batches' random keys matter.
struct DropoutMLP: DifferentiableModel {
    var input: Dense, head: Dense

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { head(dropout(relu(input(x)), probability: 0.25)) }
}

/// A user's layer: replicas cannot know whether it keeps state between passes.
final class Negation: TensorLayer {
    func configure(inputShape: [Int]) throws -> [Int] { inputShape }
    func forward(_ x: Tensor, parameters: [Tensor], context: LayerContext) -> Tensor { x.map { -$0 } }
    func backward(input: Tensor, output: Tensor, outputGradient: Tensor, parameters: [Tensor]) -> LayerGradients {
        LayerGradients(input: outputGradient.map { -$0 })
    }
}

/// A batch split into micro-batches that run at once on the compute threads, one model replica each.
@Suite("Micro-batches: one process uses every core, with results fixed by the configuration", .serialized)
struct MicroBatchTests {
    static func mlp(seed: UInt64 = 1) throws -> AutodiffModel<ResidualMLP> {
        var random = CounterRandom(seed: seed, stream: 1)
        return try AutodiffModel(
            ResidualMLP(
                input: Dense(inputs: 6, outputs: 24, random: &random), blocks: [Dense(inputs: 24, outputs: 24, random: &random)],
                head: Dense(inputs: 24, outputs: 4, random: &random)), inputShape: [6], outputShape: [4])
    }

    static func batch(rows: Int, seed: UInt64) -> SupervisedBatch {
        var random = CounterRandom(seed: seed, stream: 3)
        let inputs = (0..<(rows * 6)).map { _ in random.nextUniform() * 2 - 1 }
        let labels = (0..<rows).map { _ in Float(Int(random.nextUniform() * 4) % 4) }
        return SupervisedBatch(inputs: Tensor(shape: [rows, 6], values: inputs), targets: Tensor(shape: [rows], values: labels))
    }

    /// The loss and gradient of one pass over `batch` split by `policy`, on `threads` compute threads.
    static func pass(_ policy: MicroBatching, threads: Int = 2, rows: Int = 40) throws -> (loss: Float, gradients: [Float]) {
        try ComputeThreadsSequenceTests.withThreads(threads) {
            let model = try mlp()
            let replicas = MicroBatchReplicas(model: model, policy: policy)
            let batch = batch(rows: rows, seed: 7)
            let (loss, _) = try replicas.trainingPass(
                inputs: batch.inputs, targets: batch.targets, loss: SoftmaxCrossEntropy(), randomKey: 0, gradientScale: 1,
                accumulate: false, progress: nil)
            return (loss, model.arena.gradientValues)
        }
    }

    @Test("the automatic policy keeps 16 rows and 256 loss terms per micro-batch, at most 8; a count is capped by the rows")
    func policy() {
        #expect(MicroBatching.automatic.count(rows: 8, terms: 8 * 128) == 1)
        #expect(MicroBatching.automatic.count(rows: 32, terms: 32 * 32) == 2, "a TBPTT chunk of 32 sequences")
        #expect(MicroBatching.automatic.count(rows: 64, terms: 64 * 128) == 4)
        #expect(MicroBatching.automatic.count(rows: 64, terms: 64) == 1, "an MLP's batch runs whole")
        #expect(MicroBatching.automatic.count(rows: 1024, terms: 1024) == 4)
        #expect(MicroBatching.automatic.count(rows: 4096, terms: 4096) == 8)
        #expect(MicroBatching.count(3).count(rows: 2, terms: 2) == 2)
        #expect(MicroBatchReplicas.rows(1, of: 3, in: 10) == 3..<6)
        #expect(MicroBatchReplicas.rows(2, of: 3, in: 10) == 6..<10)
    }

    @Test("a batch run as 1, 2, 3 or 5 micro-batches has the whole batch's mean loss and gradient, up to rounding")
    func meanOfTheWholeBatch() throws {
        let whole = try Self.pass(.count(1))
        for count in [2, 3, 5] {
            let split = try Self.pass(.count(count))
            #expect(abs(split.loss - whole.loss) < 1e-5, "\(count) micro-batches")
            let largest = whole.gradients.map(abs).max()!
            #expect(largest > 1e-3, "the gradient is not trivially zero")
            #expect(zip(split.gradients, whole.gradients).allSatisfy { abs($0 - $1) < 1e-5 * Swift.max(1, largest) }, "\(count)")
        }
    }

    @Test("micro-batches train to the same bits on 1, 2 and 4 compute threads (dropout keyed by micro-batch)")
    func sameBitsOnAnyThreadCount() throws {
        func train(threads: Int) throws -> [UInt32] {
            try ComputeThreadsSequenceTests.withThreads(threads) {
                var random = CounterRandom(seed: 4, stream: 1)
                let model = try AutodiffModel(
                    DropoutMLP(input: Dense(inputs: 6, outputs: 32, random: &random), head: Dense(inputs: 32, outputs: 4, random: &random)),
                    inputShape: [6], outputShape: [4])
                let trainer = makeSupervisedTrainer(
                    model: model, optimizer: Adam(arena: model.arena, learningRate: 1e-2), loss: SoftmaxCrossEntropy(), seed: 3,
                    microBatching: .count(4))
                try trainer.run((0..<6).map { Self.batch(rows: 48, seed: UInt64($0)) }, maxEpochs: 2)
                return model.arena.parameters.map(\.bitPattern)
            }
        }
        let one = try train(threads: 1)
        #expect(try train(threads: 2) == one)
        #expect(try train(threads: 4) == one)
    }

    @Test("gradient accumulation over micro-batched iterations steps with the mean of the batches")
    func accumulation() throws {
        func train(_ policy: MicroBatching) throws -> [Float] {
            let model = try Self.mlp()
            let trainer = makeSupervisedTrainer(
                model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy(),
                accumulationSteps: 2, microBatching: policy)
            try trainer.run([Self.batch(rows: 32, seed: 1), Self.batch(rows: 32, seed: 2)], maxEpochs: 1)
            return model.arena.parameterValues
        }
        let whole = try train(.count(1))
        let split = try train(.count(2))
        let moved = zip(whole, try Self.mlp().arena.parameterValues).map { abs($0 - $1) }.max()!
        #expect(moved > 1e-3, "the step moved the parameters")
        #expect(zip(split, whole).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test("a micro-batch whose targets are all ignored adds nothing: the loss is the mean over the counted positions")
    func ignoredTargets() throws {
        func pass(_ policy: MicroBatching) throws -> (Float, [Float]) {
            let model = try SmallCorpus.model()
            let replicas = MicroBatchReplicas(model: model, policy: policy)
            let inputs = Tensor(shape: [4, 5], values: (0..<20).map { Float(97 + $0 % 7) })
            // The last two sequences are padding: every target ignored.
            let targets = Tensor(shape: [4, 5], values: (0..<20).map { $0 < 10 ? Float(98 + $0 % 5) : -100 })
            let (loss, _) = try replicas.trainingPass(
                inputs: inputs, targets: targets, loss: SequenceCrossEntropy(classes: 256), randomKey: 0, gradientScale: 1,
                accumulate: false, progress: nil)
            return (loss, model.arena.gradientValues)
        }
        let (wholeLoss, whole) = try pass(.count(1))
        let (splitLoss, split) = try pass(.count(2))
        #expect(abs(wholeLoss - splitLoss) < 1e-5)
        #expect(zip(whole, split).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(whole.contains { $0 != 0 })
    }

    @Test("a model with running statistics (batch norm) runs every batch whole")
    func runningStatisticsRunWhole() throws {
        var random = CounterRandom(seed: 1, stream: 1)
        let model = try AutodiffModel(
            NormalizedMLP(
                input: Dense(inputs: 6, outputs: 8, random: &random), norm: LayerNorm(width: 8), features: BatchNorm(features: 8),
                head: Dense(inputs: 8, outputs: 4, random: &random)), inputShape: [6], outputShape: [4])
        #expect(model.makeReplica() == nil)
        #expect(try MicroBatchReplicas(model: model, policy: .count(4)).count(rows: 32, terms: 32) == 1)
        let withOwnLayer = try Sequential([Linear(inputs: 6, outputs: 4), Negation()], inputShape: [6], seed: 1)
        #expect(try withOwnLayer.makeReplica() == nil, "a user's TensorLayer may keep state: no replicas")
        #expect(try MicroBatchReplicas(model: withOwnLayer, policy: .count(4)).count(rows: 32, terms: 32) == 1)
    }

    @Test("a Sequential of built-in layers trains as micro-batches to the whole batch's step, the same bits on any thread count")
    func sequentialReplicas() throws {
        func train(_ policy: MicroBatching, threads: Int, dropout: Float = 0.2) throws -> [Float] {
            try ComputeThreadsSequenceTests.withThreads(threads) {
                let model = try Sequential(
                    [
                        Linear(inputs: 6, outputs: 16), ReLU(), Dropout(probability: dropout), Residual([Linear(inputs: 16, outputs: 16), Tanh()]),
                        Linear(inputs: 16, outputs: 4)
                    ], inputShape: [6], seed: 2)
                let trainer = makeSupervisedTrainer(
                    model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy(), microBatching: policy)
                try trainer.run((0..<3).map { Self.batch(rows: 40, seed: UInt64($0)) }, maxEpochs: 1)
                return model.arena.parameterValues
            }
        }
        let split = try train(.count(3), threads: 1)
        #expect(try train(.count(3), threads: 2) == split)
        #expect(try train(.count(3), threads: 4) == split)
        let whole = try train(.count(1), threads: 2, dropout: 0)
        #expect(zip(try train(.count(3), threads: 2, dropout: 0), whole).allSatisfy { abs($0 - $1) < 1e-5 }, "without dropout")
    }

    @Test("a rank's virtual shards run at once on replicas: the same bits on 1, 2 and 4 threads as one after another")
    func virtualShardsOnReplicas() throws {
        func train(threads: Int, replicable: Bool) throws -> [UInt32] {
            try ComputeThreadsSequenceTests.withThreads(threads) {
                // Tanh makes replicas but is not shardwise: the model runs its shards on replicas, not in one pass.
                let layers: [any Layer] = [Linear(inputs: 6, outputs: 16), Tanh(), Dropout(probability: 0.2), Linear(inputs: 16, outputs: 4)]
                // A user's layer (no replicas) keeps the shards one after another.
                let model = try Sequential(replicable ? layers : layers + [Negation()], inputShape: [6], seed: 2)
                let shards = try VirtualShards(count: 4, worldSize: 1, rank: 0)
                let trainer = makeSupervisedTrainer(
                    model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy(), virtualShards: shards,
                    seed: 1)
                try trainer.run((0..<3).map { Self.batch(rows: 32, seed: UInt64($0)) }, maxEpochs: 1)
                return model.arena.parameters.map(\.bitPattern)
            }
        }
        let one = try train(threads: 1, replicable: true)
        #expect(try train(threads: 2, replicable: true) == one)
        #expect(try train(threads: 4, replicable: true) == one)
        let sequentialOne = try train(threads: 1, replicable: false)
        #expect(try train(threads: 2, replicable: false) == sequentialOne)
    }

    @Test("misuse is a typed error: a replica that is the model itself, targets of another batch, more micro-batches than rows")
    func misuse() throws {
        final class SelfReplicating: ReplicableModel {
            let inner: Sequential
            init() throws { inner = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 4, seed: 1) }
            var arena: ParameterArena { inner.arena }
            var inputShape: [Int] { inner.inputShape }
            var outputShape: [Int] { inner.outputShape }
            func forward(_ input: Tensor, context: LayerContext) throws -> Tensor { try inner.forward(input, context: context) }
            func backward(_ outputGradient: Tensor, accumulate: Bool, progress: ((Int) -> Void)?) throws {
                try inner.backward(outputGradient, accumulate: accumulate, progress: progress)
            }
            func makeReplica() throws -> (any Model)? { self }
        }
        #expect(throws: MicroBatchError.self) { try MicroBatchReplicas(model: try SelfReplicating(), policy: .count(2)).count(rows: 8, terms: 8) }
        let replicas = MicroBatchReplicas(model: try Self.mlp(), policy: .count(2))
        let batch = Self.batch(rows: 8, seed: 1)
        #expect(throws: LossError.self) {
            _ = try replicas.trainingPass(
                inputs: batch.inputs, targets: batch.targets.rows(0..<4), loss: SoftmaxCrossEntropy(), randomKey: 0, gradientScale: 1,
                accumulate: false, progress: nil)
        }
        #expect(throws: MicroBatchError.badCount(count: 9, rows: 8)) {
            _ = try replicas.trainingPass(
                inputs: batch.inputs, targets: batch.targets, loss: SoftmaxCrossEntropy(), randomKey: 0, gradientScale: 1, accumulate: false,
                progress: nil, count: 9)
        }
    }

    @Test("a replica reads the model's parameters and writes only its own gradients")
    func replicaSharesParameters() throws {
        let model = try Self.mlp()
        let replica = try #require(model.makeReplica())
        #expect(replica.arena.parameterValues == model.arena.parameterValues)
        try model.arena.setParameter(named: model.arena.entries[0].name, to: Tensor(shape: model.arena.entries[0].shape, repeating: 0.5))
        #expect(replica.arena.parameterValues == model.arena.parameterValues, "the same storage")
        let batch = Self.batch(rows: 8, seed: 1)
        let output = try replica.forward(batch.inputs, context: LayerContext(training: true, randomKey: 1))
        let gradient = try SoftmaxCrossEntropy().valueAndGradient(predictions: output, targets: batch.targets).gradient
        try replica.backward(gradient, accumulate: false, progress: nil)
        #expect(replica.arena.gradientValues.contains { $0 != 0 })
        #expect(model.arena.gradientValues.allSatisfy { $0 == 0 }, "the model's gradients untouched")
    }
}
