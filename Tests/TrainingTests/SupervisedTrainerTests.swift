import Cluster
import EngineCore
import Foundation
import NeuralNet
import Testing
import Training

@Suite("The supervised trainer and the gradient all-reduce handler")
struct SupervisedTrainerTests {
    static func data(_ count: Int) -> Dataset {
        var random = CounterRandom(seed: 5, stream: 1)
        let labels = (0..<count).map { Int32($0 % 3) }
        let features = labels.flatMap { label in (0..<6).map { feature in random.nextUniform() + (feature % 3 == Int(label) ? 1 : 0) } }
        return Dataset(features: features, featureCount: 6, labels: labels, classNames: ["a", "b", "c"])
    }

    static func parameters(batch: Int, accumulation: Int, samples: Int = 48) throws -> [Float] {
        let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
        let trainer = SupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), accumulationSteps: accumulation)
        let loader = DataLoader(dataset: data(samples), batchSize: batch,
                                sampler: DistributedSampler(count: samples, shuffle: false, tail: .pad))
        try trainer.engine.run(loader, maxEpochs: 2)
        return Array(model.arena.parameters)
    }

    @Test("accumulating 4 batches of 4 equals one batch of 16 (within float tolerance)")
    func accumulation() throws {
        let accumulated = try Self.parameters(batch: 4, accumulation: 4), whole = try Self.parameters(batch: 16, accumulation: 1)
        #expect(zip(accumulated, whole).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("GRADIENTS_READY fires once per optimizer step, between backward and the step")
    func gradientsReady() throws {
        let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [4], outputs: 3, seed: 1)
        let trainer = SupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), accumulationSteps: 2)
        var iterations: [Int] = []
        var parametersAtEvent: [Float] = []
        try trainer.engine.on(.gradientsReady) { engine in
            iterations.append(engine.state.iteration)
            parametersAtEvent = Array(model.arena.parameters)
        }
        let loader = DataLoader(dataset: Self.data(12), batchSize: 2, sampler: DistributedSampler(count: 12, shuffle: false))
        try trainer.engine.run(loader, maxEpochs: 1)
        #expect(iterations == [2, 4, 6])
        #expect(parametersAtEvent != Array(model.arena.parameters), "the step comes after the event")
    }

    @Test("on 4 simulated ranks the all-reduce handler keeps ranks identical and equals one process on the global batch")
    func simulatedRanks() throws {
        let single = try Self.parameters(batch: 16, accumulation: 1, samples: 64)
        let results = try SimulatedWorld(size: 4).run { communicator -> [Float] in
            let model = try Sequential.multilayerPerceptron(inputs: 6, hidden: [8], outputs: 3, seed: 2)
            let trainer = SupervisedTrainer(model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1), rank: communicator.rank)
            try GradientAllReduce(arena: model.arena, communicator: communicator, firstBucketBytes: 64, bucketBytes: 128).attach(to: trainer)
            try trainer.engine.on(.started) { _ in try ModelConsistency.broadcastParameters(model.arena, over: communicator) }
            // Global batch k on one process is order positions 16k..<16k+16; rank r takes positions 4j + r of it.
            let loader = DataLoader(dataset: Self.data(64), batchSize: 4,
                                    sampler: DistributedSampler(count: 64, worldSize: 4, rank: communicator.rank, shuffle: false))
            try trainer.engine.run(loader, maxEpochs: 2)
            try ModelConsistency.verifyIdentical(model.arena, over: communicator, iteration: trainer.engine.state.iteration)
            return Array(model.arena.parameters)
        }
        for parameters in results { #expect(parameters.map(\.bitPattern) == results[0].map(\.bitPattern)) }
        #expect(zip(results[0], single).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("a rank whose parameters diverge is named by the consistency check")
    func divergence() throws {
        #expect(throws: ClusterError.self) {
            try SimulatedWorld(size: 3).run { communicator in
                let model = try Sequential.multilayerPerceptron(inputs: 2, hidden: [], outputs: 2, seed: 1)
                if communicator.rank == 2 { model.arena.parameters[0] += 1 }
                do { try ModelConsistency.verifyIdentical(model.arena, over: communicator, iteration: 7) } catch {
                    #expect("\(error)" == "parameters of rank 2 diverged from rank 0's at iteration 7")
                    throw error
                }
            }
        }
    }
}
