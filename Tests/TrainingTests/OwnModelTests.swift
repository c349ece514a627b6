import Cluster
import EngineCore
import NeuralNet
import Testing
import Training

/// Linear regression y = x·w + b written as a `Model` of the user's own, with tensors and the arena's safe API.
final class LinearRegressionModel: Model {
    let arena = ParameterArena(layout: [("w", [2, 1]), ("b", [1])])
    let inputShape = [2], outputShape = [1]
    private var lastInput: Tensor?

    func forward(_ input: Tensor, context: LayerContext) throws -> Tensor {
        guard Array(input.shape.dropFirst()) == inputShape else { throw ModelError.badInput(expected: inputShape, found: input.shape) }
        lastInput = input
        let bias = try arena.parameter(named: "b").values[0]
        return input.matmul(try arena.parameter(named: "w")).map { $0 + bias }
    }

    func backward(_ outputGradient: Tensor, accumulate: Bool, progress: ((Int) -> Void)?) throws {
        guard let x = lastInput else { throw ModelError.backwardBeforeForward }
        var w: [Float] = [0, 0]
        var b: Float = 0
        for row in 0..<x.rows {
            let g = outputGradient.values[row]
            w[0] += g * x.values[2 * row]
            w[1] += g * x.values[2 * row + 1]
            b += g
        }
        try arena.setGradient(named: "w", to: Tensor(shape: [2, 1], values: w), accumulate: accumulate)
        try arena.setGradient(named: "b", to: Tensor(shape: [1], values: [b]), accumulate: accumulate)
    }
}

@Suite("A model of the user's own in the library's engine")
struct OwnModelTests {
    static func batches(world: Int = 1, rank: Int = 0) -> [SupervisedBatch] {
        var random = CounterRandom(seed: 2, stream: 1)
        return (0..<40).compactMap { index in
            let x = (0..<16).map { _ in random.nextUniform() * 2 - 1 }
            let y: [Float] = (0..<8).map { row -> Float in
                let first: Float = 3 * x[2 * row]
                let second: Float = 2 * x[2 * row + 1]
                return first - second + 0.5
            }
            guard index % world == rank else { return nil }
            return SupervisedBatch(inputs: Tensor(shape: [8, 2], values: x), targets: Tensor(shape: [8, 1], values: y))
        }
    }

    @Test("it trains with makeSupervisedTrainer, MSE and SGD to the true weights, and DataParallel averages it over ranks")
    func trains() throws {
        let model = LinearRegressionModel()
        let trainer = makeSupervisedTrainer(
            model: model, optimizer: SGD(arena: model.arena, learningRate: 0.2),
            loss: MeanSquaredError())
        try trainer.run(Self.batches(), maxEpochs: 10)
        let weights = model.arena.parameterValues
        #expect(abs(weights[0] - 3) < 0.01 && abs(weights[1] + 2) < 0.01 && abs(weights[2] - 0.5) < 0.01, "\(weights)")
        let results = try SimulatedWorld(size: 2).run { communicator -> [Float] in
            let model = LinearRegressionModel()
            let trainer = makeSupervisedTrainer(
                model: model, optimizer: SGD(arena: model.arena, learningRate: 0.2),
                loss: MeanSquaredError())
            try DataParallel(communicator: communicator).attach(to: trainer, arena: model.arena)
            try trainer.run(Self.batches(world: 2, rank: communicator.rank), maxEpochs: 20)
            return model.arena.parameterValues
        }
        #expect(results[0] == results[1])
        #expect(abs(results[0][0] - 3) < 0.01 && abs(results[0][1] + 2) < 0.01)
    }

    @Test("attaching DataParallel to one engine twice is refused instead of averaging the gradients twice")
    func attachedTwice() throws {
        let model = LinearRegressionModel()
        let trainer = makeSupervisedTrainer(
            model: model, optimizer: SGD(arena: model.arena, learningRate: 0.2),
            loss: MeanSquaredError())
        let parallel = DataParallel(communicator: LocalCommunicator())
        try parallel.attach(to: trainer, arena: model.arena)
        #expect(throws: DistributedTrainingError.attachedTwice) { try parallel.attach(to: trainer, model: model) }
        #expect(throws: DistributedTrainingError.attachedTwice) {
            try DataParallel(communicator: LocalCommunicator()).attach(to: trainer, arena: model.arena)
        }
    }
}
