import Autodiff
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training
import _Differentiation

/// A user's own fused operation with its own derivative: x [batch, n] scaled per feature by `weight` [n], summed
/// per row. The gradient of Σ rows with respect to `weight` is the column sums of x.
@differentiable(reverse)
func rowDot(_ x: DTensor, _ weight: DTensor) -> DTensor {
    let (rows, columns) = (x.shape[0], x.shape[1])
    let values = x.values
    let w = weight.values
    return DTensor(shape: [rows, 1], values: (0..<rows).map { row in (0..<columns).reduce(0) { $0 + values[row * columns + $1] * w[$1] } })
}

@derivative(of: rowDot)
func vjpRowDot(_ x: DTensor, _ weight: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
    (
        rowDot(x, weight),
        { g in
            let (rows, columns) = (x.shape[0], x.shape[1])
            let values = x.values
            let w = weight.values
            let gv = g.values
            let dx = DTensor(shape: x.shape, values: (0..<(rows * columns)).map { gv[$0 / columns] * w[$0 % columns] })
            let dw = DTensor(shape: weight.shape, values: (0..<columns).map { c in (0..<rows).reduce(0) { $0 + gv[$1] * values[$1 * columns + c] } })
            return (dx, dw)
        }
    )
}

struct OwnOperationModel: DifferentiableModel {
    var weight: DTensor
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { rowDot(x, weight) }
}

struct UnusedParameterModel: DifferentiableModel {
    var used: Dense, unused: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { used(x) }
}

struct NormalizedClassifier: DifferentiableModel {
    var input: Dense, norm: BatchNorm, head: Dense
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { head(relu(norm(input(x)))) }
}

@Suite("The model bridge: every parameter gets its gradient, buffers are model state")
struct ModelBridgeTests {
    static func normalizedClassifier(seed: UInt64) throws -> AutodiffModel<NormalizedClassifier> {
        var random = CounterRandom(seed: seed, stream: 1)
        return try AutodiffModel(
            NormalizedClassifier(
                input: Dense(inputs: 3, outputs: 4, random: &random), norm: BatchNorm(features: 4),
                head: Dense(inputs: 4, outputs: 2, random: &random)),
            inputShape: [3], outputShape: [2])
    }

    static func batch(rows: Int, seed: UInt64) -> Tensor {
        Tensor(shape: [rows, 3], values: GradientChecking.random(rows * 3, seed: seed).map { $0 * 2 + 1 })
    }

    @Test("a parameter given to the user's own differentiable operation gets its gradient (the issue's trap: [5, 7, 9])")
    func ownOperationGetsGradient() throws {
        let model = try AutodiffModel(OwnOperationModel(weight: DTensor(parameterShape: [3], values: [1, 1, 1])), inputShape: [3], outputShape: [1])
        _ = try model.forward(Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), context: LayerContext(training: true, randomKey: 0))
        try model.backward(Tensor(shape: [2, 1], values: [1, 1]), accumulate: false, progress: nil)
        #expect(model.arena.gradientValues == [5, 7, 9])
        // And it trains: SGD moves the weight.
        let trainer = makeSupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.01), loss: MeanSquaredError())
        try trainer.run(
            [SupervisedBatch(inputs: Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), targets: Tensor(shape: [2, 1], values: [0, 0]))],
            maxEpochs: 1)
        #expect(model.arena.parameterValues != [1, 1, 1])
    }

    @Test("a parameter that no gradient reaches fails the first step with an error naming it")
    func unusedParameterFails() throws {
        var random = CounterRandom(seed: 1, stream: 1)
        let model = try AutodiffModel(
            UnusedParameterModel(
                used: Dense(inputs: 2, outputs: 1, random: &random),
                unused: Dense(inputs: 2, outputs: 1, random: &random)),
            inputShape: [2], outputShape: [1])
        _ = try model.forward(Tensor(shape: [1, 2], values: [1, 2]), context: LayerContext(training: true, randomKey: 0))
        #expect(throws: ModelError.parameterWithoutGradient(name: "unused.weight")) {
            try model.backward(Tensor(shape: [1, 1], values: [1]), accumulate: false, progress: nil)
        }
        #expect(ModelError.parameterWithoutGradient(name: "unused.weight").description.contains("'unused.weight'"))
    }

    @Test("a model whose output is not its declared shape is refused")
    func wrongOutputShape() throws {
        let model = try AutodiffModel(OwnOperationModel(weight: DTensor(parameterShape: [3], values: [1, 1, 1])), inputShape: [3], outputShape: [2])
        #expect(throws: ModelError.badOutput(expected: [1, 2], found: [1, 1])) {
            _ = try model.forward(Tensor(shape: [1, 3], values: [1, 2, 3]), context: LayerContext(training: false, randomKey: 0))
        }
    }

    @Test("batch norm: batch statistics while training, PyTorch's running-statistics update, running statistics in evaluation")
    func batchNormSemantics() throws {
        let norm = BatchNorm(features: 2, momentum: 0.1)
        let x = DTensor(shape: [4, 2], values: [1, 10, 2, 20, 3, 30, 4, 40])
        let trained = try AutodiffContext.withTraining { norm(x) }
        let column0 = stride(from: 0, to: 8, by: 2).map { trained.values[$0] }
        #expect(abs(column0.reduce(0, +)) < 1e-5, "zero mean per channel")
        #expect(abs(column0.map { $0 * $0 }.reduce(0, +) / 4 - 1) < 1e-3, "unit (biased) variance per channel")
        // running = 0.9·running + 0.1·batch (the variance unbiased): means 2.5, 25; variances 5/3, 500/3.
        #expect(zip(norm.runningMean.values, [0.25, 2.5]).allSatisfy { abs($0 - $1) < 1e-5 })
        let expectedVariance: [Float] = [0.9 + 0.5 / 3, 0.9 + 50 / 3]
        #expect(zip(norm.runningVariance.values, expectedVariance).allSatisfy { abs($0 - $1) < 1e-4 })
        let evaluated = norm(x).values
        let expected: Float = 0.75 / (expectedVariance[0] + 1e-5).squareRoot()
        #expect(abs(evaluated[0] - expected) < 1e-5, "evaluation uses the running statistics")
        GradientChecking.check(
            "batchNorm training",
            [
                GradientChecking.tensor([4, 3], seed: 1), GradientChecking.tensor([3], seed: 2),
                GradientChecking.tensor([3], seed: 3)
            ]
        ) { v in
            batchNorm(
                v[0], gamma: v[1], beta: v[2], runningMean: ModelBuffer(shape: [3], values: [0, 0, 0]),
                runningVariance: ModelBuffer(shape: [3], values: [1, 1, 1]), training: true)
        }
        GradientChecking.check(
            "batchNorm 2-d evaluation",
            [
                GradientChecking.tensor([2, 3, 2, 2], seed: 4), GradientChecking.tensor([3], seed: 5),
                GradientChecking.tensor([3], seed: 6)
            ]
        ) { v in
            batchNorm(
                v[0], gamma: v[1], beta: v[2], runningMean: ModelBuffer(shape: [3], values: [0.1, 0.2, 0.3]),
                runningVariance: ModelBuffer(shape: [3], values: [1, 2, 3]))
        }
    }

    @Test("running statistics are buffers: in the state dict and checkpoint file by name, restored exactly, never stepped")
    func buffersAreModelState() throws {
        let model = try Self.normalizedClassifier(seed: 1)
        #expect(model.arena.bufferEntries.map(\.name) == ["norm.runningMean", "norm.runningVariance"])
        #expect(model.arena.count == 3 * 4 + 4 + 4 + 4 + 4 * 2 + 2, "buffers are not parameters: no gradient, no optimizer state")
        let trainer = makeSupervisedTrainer(model: model, optimizer: Adam(arena: model.arena, learningRate: 0.01), loss: SoftmaxCrossEntropy())
        let batches = (0..<5).map {
            SupervisedBatch(inputs: Self.batch(rows: 8, seed: UInt64($0)), targets: Tensor(shape: [8], values: (0..<8).map { Float($0 % 2) }))
        }
        try trainer.run(batches, maxEpochs: 2)
        let running = try model.arena.buffer(named: "norm.runningMean")
        #expect(running.values.contains { $0 != 0 })
        // Through a checkpoint file, as a checkpoint handler writes it, into a fresh model.
        let bytes = CheckpointFile.encode(["model": .dictionary(ModelState(model).stateDict())])
        let restored = try Self.normalizedClassifier(seed: 99)
        try ModelState(restored).loadStateDict(try CheckpointFile.decode(bytes, source: "memory").dictionary("model"))
        #expect(try restored.arena.buffer(named: "norm.runningMean") == running)
        let probe = Self.batch(rows: 5, seed: 42)
        #expect(try restored(probe) == (try model(probe)), "the restored copy evaluates exactly as the original")
        // A checkpoint without the buffers is refused by name.
        var partial = ModelState(model).stateDict()
        partial["norm.runningVariance"] = nil
        #expect(throws: (any Error).self) { try ModelState(restored).loadStateDict(partial) }
    }

    @Test("DataParallel broadcasts rank 0's buffers at start and, synchronized, normalises by every rank's batch")
    func buffersAcrossRanks() throws {
        let full = Self.batch(rows: 8, seed: 7)
        let labels = Tensor(shape: [8], values: (0..<8).map { Float($0 % 2) })
        // One process on the whole batch.
        let single = try Self.normalizedClassifier(seed: 3)
        let singleTrainer = makeSupervisedTrainer(model: single, optimizer: SGD(arena: single.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy())
        try singleTrainer.run([SupervisedBatch(inputs: full, targets: labels)], maxEpochs: 1)
        for synchronize in [true, false] {
            let results = try SimulatedWorld(size: 2).run { communicator -> ([Float], [Float]) in
                let model = try Self.normalizedClassifier(seed: 3)
                if communicator.rank == 1 { try model.arena.setBuffer(named: "norm.runningVariance", to: Tensor(shape: [4], values: [7, 7, 7, 7])) }
                let trainer = makeSupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), loss: SoftmaxCrossEntropy())
                try DataParallel(communicator: communicator, synchronizeBatchStatistics: synchronize).attach(to: trainer, model: model)
                let rows = (communicator.rank * 4)..<(communicator.rank * 4 + 4)
                let shard = SupervisedBatch(
                    inputs: Tensor(shape: [4, 3], values: Array(full.values[(rows.lowerBound * 3)..<(rows.upperBound * 3)])),
                    targets: Tensor(shape: [4], values: Array(labels.values[rows])))
                try trainer.run([shard], maxEpochs: 1)
                return (model.arena.parameterValues, try model.arena.buffer(named: "norm.runningVariance").values)
            }
            if synchronize {
                for (parameters, variance) in results {
                    #expect(zip(parameters, single.arena.parameterValues).allSatisfy { abs($0 - $1) < 1e-5 }, "synchronized: as one process")
                    #expect(zip(variance, try single.arena.buffer(named: "norm.runningVariance").values).allSatisfy { abs($0 - $1) < 1e-5 })
                }
            } else {
                #expect(results[0].0 == results[1].0, "the averaged gradients keep the ranks identical")
                #expect(results[1].1.allSatisfy { $0 < 6 }, "rank 1 started from rank 0's buffers (ones), not its own (sevens): \(results[1].1)")
                #expect(results[0].0 != single.arena.parameterValues, "per-rank statistics differ from the whole batch's")
            }
        }
    }
}

extension AutodiffContext {
    /// Runs `body` as a training forward pass (batch statistics, dropout on), for tests of single layers.
    static func withTraining<R>(_ body: () throws -> R) throws -> R {
        try AutodiffContext.run(in: LayerContext(training: true, randomKey: 1), body)
    }
}

/// The reviewer's case: a parameter used by a library operation on every step and by the user's own operation only
/// on some (not the first).
struct SometimesOwnOperation: DifferentiableModel {
    var weight: DTensor
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        x.shape[0] == 2
            ? sum(x * weight, axis: 1, keepingAxis: true) + rowDot(x, weight)
            : sum(x * weight, axis: 1, keepingAxis: true)
    }
}

@Suite("A user's operation that appears only on later steps still delivers its parameter's gradient")
struct LaterOwnOperationTests {
    @Test("batch of 4 first (library operation only), then of 2 (library and own operation): [10, 14, 18]")
    func laterStepsKeepTheirGradient() throws {
        let model = try AutodiffModel(
            SometimesOwnOperation(weight: DTensor(parameterShape: [3], values: [1, 1, 1])), inputShape: [3], outputShape: [1])
        let context = LayerContext(training: true, randomKey: 0)
        _ = try model.forward(Tensor(shape: [4, 3], values: (0..<12).map(Float.init)), context: context)
        try model.backward(Tensor(shape: [4, 1], values: [1, 1, 1, 1]), accumulate: false, progress: nil)
        _ = try model.forward(Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), context: context)
        try model.backward(Tensor(shape: [2, 1], values: [1, 1]), accumulate: false, progress: nil)
        #expect(model.arena.gradientValues == [10, 14, 18])
    }
}

@Suite("Batch norm on virtual shards")
struct VirtualShardBatchNormTests {
    @Test("parameters and running statistics are the same bits on 1, 2 and 4 ranks with 4 virtual shards")
    func sameBits() throws {
        let data = QuadrantTask.batches(count: 1, batch: 32, seed: 11)[0]
        let dataset = Dataset(
            features: data.inputs.values, featureCount: 64, labels: data.targets.values.map { Int32($0) },
            classNames: ["0", "1", "2", "3"], sampleShape: [1, 8, 8])
        func run(world: Int) throws -> [[Float]] {
            try SimulatedWorld(size: world).run { communicator -> [Float] in
                let shards = try VirtualShards(count: 4, worldSize: world, rank: communicator.rank)
                var random = CounterRandom(seed: 5, stream: 1)
                let model = try AutodiffModel(
                    BatchNormCNN(
                        conv: Conv2DLayer(channels: 1, filters: 4, stride: 2, padding: 1, random: &random),
                        norm: BatchNorm(features: 4),
                        conv2: Conv2DLayer(channels: 4, filters: 4, random: &random),
                        head: Dense(inputs: 4, outputs: 4, random: &random)),
                    inputShape: [1, 8, 8], outputShape: [4])
                let optimizer = SGD(arena: model.arena, learningRate: 0.1)
                let trainer = makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), virtualShards: shards)
                try DataParallel(communicator: communicator).attach(to: trainer, model: model, optimizer: optimizer)
                try trainer.run(try DataLoader(dataset: dataset, microBatchSize: 2, shards: shards, seed: 3), maxIterations: 3)
                return model.arena.parameterValues + model.arena.namedBuffers().flatMap(\.values)
            }
        }
        let one = try run(world: 1)[0]
        #expect(one.suffix(8).contains { $0 != 0 && $0 != 1 }, "the running statistics moved")
        for world in [2, 4] {
            for state in try run(world: world) { #expect(state == one, "world \(world)") }
        }
    }
}

@Suite("Backward passes store or add into the arena as asked")
struct GradientAccumulationTests {
    @Test("accumulate adds to the last gradients; not accumulating replaces them, a parameter left out of a pass is zero")
    func accumulateAndReplace() throws {
        var random = CounterRandom(seed: 4, stream: 1)
        let model = try AutodiffModel(
            NormalizedClassifier(
                input: Dense(inputs: 3, outputs: 4, random: &random), norm: BatchNorm(features: 4),
                head: Dense(inputs: 4, outputs: 2, random: &random)),
            inputShape: [3], outputShape: [2])
        let x = Tensor(shape: [4, 3], values: GradientChecking.random(12, seed: 1))
        let g = Tensor(shape: [4, 2], values: GradientChecking.random(8, seed: 2))
        let context = LayerContext(training: false, randomKey: 0)
        _ = try model.forward(x, context: context)
        try model.backward(g, accumulate: false, progress: nil)
        let once = model.arena.gradientValues
        _ = try model.forward(x, context: context)
        try model.backward(g, accumulate: true, progress: nil)
        #expect(zip(model.arena.gradientValues, once).allSatisfy { abs($0 - 2 * $1) <= 1e-6 * max(1, abs($1)) }, "added")
        _ = try model.forward(x, context: context)
        try model.backward(g, accumulate: false, progress: nil)
        #expect(model.arena.gradientValues == once, "replaced, not added")
    }
}

@Suite("Loading a model's state")
struct ModelStateLoadingTests {
    @Test("parameters holding NaN or infinity are refused by name")
    func nonFiniteRefused() throws {
        let model = try ModelBridgeTests.normalizedClassifier(seed: 1)
        for bad in [Float.nan, .infinity] {
            var state = ModelState(model).stateDict()
            var values = try model.arena.parameter(named: "head.bias").values
            values[0] = bad
            state["head.bias"] = .tensor(shape: [2], values: values)
            #expect(throws: StateDictError.invalidValue(key: "head.bias", reason: "holds NaN or infinite values: the run that saved it had diverged"))
            {
                try ModelState(try ModelBridgeTests.normalizedClassifier(seed: 2)).loadStateDict(state)
            }
        }
    }
}
