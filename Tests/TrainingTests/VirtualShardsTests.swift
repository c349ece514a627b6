import Cluster
import EngineCore
import NeuralNet
import Testing
import Training

@Suite("Virtual shards: the same bits for every world size that divides the shard count")
struct VirtualShardsTests {
    /// 300 samples of 6 features in 3 classes (300 is not a multiple of 8: the last batch is partial and padded).
    static let dataset: Dataset = {
        var random = CounterRandom(seed: 11, stream: 3)
        var features: [Float] = []
        var labels: [Int32] = []
        for index in 0..<300 {
            let label = Int32(index % 3)
            for feature in 0..<6 { features.append(random.nextUniform() + (feature % 3 == Int(label) ? 0.8 : 0)) }
            labels.append(label)
        }
        return Dataset(features: features, featureCount: 6, labels: labels, classNames: ["a", "b", "c"])
    }()

    /// Trains a small MLP with dropout for 3 epochs on `shards` virtual shards over `world` simulated ranks.
    static func train(
        world: Int, shards: Int, microBatch: Int = 8, epochs: Int = 3, dropout: Float = 0.3,
        stopAfter: Int? = nil, onePass: Bool = true
    ) throws -> (parameters: [Float], losses: [Float]) {
        let results = try SimulatedWorld(size: world).run { communicator -> ([Float], [Float]) in
            let layout = try VirtualShards(count: shards, worldSize: communicator.size, rank: communicator.rank)
            // Tanh is not shardwise: the model then runs its shards one pass each (on replicas).
            let model = try Sequential(
                [Linear(inputs: 6, outputs: 16), onePass ? ReLU() : Tanh(), Dropout(probability: dropout), Linear(inputs: 16, outputs: 3)],
                inputShape: [6], seed: 4)
            #expect(model.runsShardsInOnePass == onePass)
            let optimizer = SGD(arena: model.arena, learningRate: 0.1, momentum: 0.9)
            let trainer = makeSupervisedTrainer(
                model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(),
                virtualShards: layout, seed: 9)
            try DataParallel(communicator: communicator).attach(to: trainer, arena: model.arena, optimizer: optimizer)
            var losses: [Float] = []
            try trainer.on(.iterationCompleted) { engine in losses.append(engine.state.output!.loss) }
            if let stopAfter { try trainer.on(.iterationCompleted(once: stopAfter)) { $0.terminate() } }
            let loader = try DataLoader(dataset: dataset, microBatchSize: microBatch, shards: layout, seed: 5)
            try trainer.run(loader, maxEpochs: epochs)
            return (model.arena.parameterValues, losses)
        }
        #expect(results.allSatisfy { $0.0 == results[0].0 }, "the ranks of one world disagree")
        return results[0]
    }

    @Test("a model with dropout ends with the same parameters and losses on 1, 2, 4 and 8 ranks of 8 shards")
    func sameBitsForEveryWorld() throws {
        let one = try Self.train(world: 1, shards: 8)
        for world in [2, 4, 8] {
            let other = try Self.train(world: world, shards: 8)
            #expect(other.parameters == one.parameters, "world \(world)")
            #expect(other.losses == one.losses, "world \(world)")
        }
        #expect(one.losses.count == 3 * 5)  // ceil(300 / 8) = 38 per shard, ceil(38 / 8) = 5 batches per epoch
        #expect(one.losses.last! < one.losses.first!)
    }

    @Test("a model that runs its shards one pass each (a layer that is not shardwise) has the same bits on 1, 2, 4 and 8 ranks")
    func sameBitsShardByShard() throws {
        let one = try Self.train(world: 1, shards: 8, epochs: 1, onePass: false)
        for world in [2, 4, 8] {
            let other = try Self.train(world: world, shards: 8, epochs: 1, onePass: false)
            #expect(other.parameters == one.parameters, "world \(world)")
            #expect(other.losses == one.losses, "world \(world)")
        }
    }

    @Test("the shard count changes the numbers (a different global batch), so it is part of the run")
    func shardCountMatters() throws {
        #expect(try Self.train(world: 1, shards: 4).parameters != Self.train(world: 1, shards: 8).parameters)
    }

    @Test("the gradient is the global batch's mean: 8 shards of 4 samples step as 1 shard of the same 32, up to rounding")
    func gradientIsTheGlobalMean() throws {
        let eight = try Self.train(world: 1, shards: 8, microBatch: 4, dropout: 0, stopAfter: 3)
        let one = try Self.train(world: 1, shards: 1, microBatch: 32, dropout: 0, stopAfter: 3)
        let difference = zip(eight.parameters, one.parameters).map { abs($0 - $1) }.max()!
        #expect(difference < 1e-5 && difference > 0, "\(difference)")
        #expect(zip(eight.losses, one.losses).allSatisfy { abs($0 - $1) < 1e-5 }, "\(eight.losses) \(one.losses)")
    }

    @Test("the loader gives each rank its shards' micro-batches; together they are the shard world's batches")
    func loaderShards() throws {
        let whole = try DataLoader(dataset: Self.dataset, microBatchSize: 8, shards: try VirtualShards(count: 4, worldSize: 1, rank: 0), seed: 5)
        let halves = try (0..<2).map {
            try DataLoader(dataset: Self.dataset, microBatchSize: 8, shards: try VirtualShards(count: 4, worldSize: 2, rank: $0), seed: 5)
        }
        #expect(whole.batchesPerPass == halves[0].batchesPerPass)
        #expect(whole.batchesPerPass == 10)  // 300 padded to 300 = 4 x 75; ceil(75 / 8) = 10
        for (batch, (first, second)) in zip(Array(whole), zip(Array(halves[0]), Array(halves[1]))) {
            #expect(batch.inputs.values == first.inputs.values + second.inputs.values)
            #expect(batch.count == 4 * (batch.indexInEpoch == 9 ? 3 : 8))
        }
    }

    @Test("layouts that cannot work are typed errors with the sizes that can")
    func layoutErrors() throws {
        #expect(throws: VirtualShardsError.notPowerOfTwo(6)) { try VirtualShards(count: 6, worldSize: 2, rank: 0) }
        #expect(throws: VirtualShardsError.worldDoesNotDivide(shards: 2, worldSize: 4)) { try VirtualShards(count: 2, worldSize: 4, rank: 0) }
        #expect(VirtualShardsError.worldDoesNotDivide(shards: 4, worldSize: 8).description.contains("1, 2, 4"))
        let shards = try VirtualShards(count: 8, worldSize: 4, rank: 2)
        #expect(shards.ownedShards == 4..<6 && shards.shardsPerRank == 2)
    }

    @Test("a trainer made for one world refuses to be attached to another")
    func layoutMismatch() throws {
        let model = try Sequential([Linear(inputs: 6, outputs: 3)], inputShape: [6], seed: 1)
        let trainer = makeSupervisedTrainer(
            model: model, optimizer: SGD(arena: model.arena, learningRate: 0.1),
            loss: SoftmaxCrossEntropy(), virtualShards: try VirtualShards(count: 4, worldSize: 2, rank: 0))
        #expect(throws: DistributedTrainingError.self) {
            try DataParallel(communicator: LocalCommunicator()).attach(to: trainer, arena: model.arena)
        }
    }

    @Test("the shard sum is the binary tree (g0 + g1) + (g2 + g3), not the running sum")
    func treeOrder() throws {
        let arena = ParameterArena(layout: [("x", [1])])
        let sum = ShardGradientSum(arena: arena, shards: try VirtualShards(count: 4, worldSize: 1, rank: 0))
        let leaves: [Float] = [1e8, 1, -1e8, 1]
        for leaf in leaves {
            try arena.setGradient(named: "x", to: Tensor(shape: [1], values: [leaf]))
            sum.addShard(loss: leaf)
        }
        let tree = (leaves[0] + leaves[1]) + (leaves[2] + leaves[3])
        #expect(sum.isComplete)
        #expect(arena.gradientValues == [tree] && sum.lossSum == tree)
        // A step abandoned after one shard (an error in the process function) leaves nothing behind.
        sum.beginStep()
        try arena.setGradient(named: "x", to: Tensor(shape: [1], values: [5]))
        sum.addShard(loss: 5)
        sum.beginStep()
        for leaf in leaves {
            try arena.setGradient(named: "x", to: Tensor(shape: [1], values: [leaf]))
            sum.addShard(loss: leaf)
        }
        #expect(arena.gradientValues == [tree] && sum.lossSum == tree)
        #expect(tree != ((leaves[0] + leaves[1]) + leaves[2]) + leaves[3])
    }
}

@Suite("Shard-wise evaluation as library API")
struct ShardwiseEvaluationTests {
    @Test("the test metrics of 8 virtual shards are the same bits on 1, 2, 4 and 8 ranks, an uneven test split included")
    func sameBitsOnEveryWorld() throws {
        var random = CounterRandom(seed: 11, stream: 1)
        let test = GlyphDataset.generate(count: 203, using: &random)
        var results: [[Double]] = []
        for ranks in [1, 2, 4, 8] {
            let perRank = try SimulatedWorld(size: ranks).run { world -> [Double] in
                let model = try Sequential(
                    [Flatten(), Linear(inputs: 256, outputs: 16), ReLU(), Linear(inputs: 16, outputs: 10)], inputShape: [1, 16, 16], seed: 4)
                let evaluator = makeSupervisedEvaluator(model: model, loss: SoftmaxCrossEntropy())
                let accuracy = Accuracy()
                let loss = Loss()
                try accuracy.attachUpdates(to: evaluator) { ClassificationBatch(predictions: $0.predictions, targets: $0.targets) }
                try loss.attachUpdates(to: evaluator) { (Double($0.loss), $0.count) }
                let evaluation = try ShardwiseEvaluation(
                    test: test, batchSize: 7, shards: try VirtualShards(count: 8, worldSize: world.size, rank: world.rank),
                    metrics: [("accuracy", accuracy), ("loss", loss)])
                try evaluation.run(evaluator, communicator: world)
                return [evaluator.state.metrics["accuracy"]!, evaluator.state.metrics["loss"]!]
            }
            #expect(Set(perRank.map { $0.map(\.bitPattern) }).count == 1, "every rank of \(ranks) agrees")
            results.append(perRank[0])
        }
        #expect(results.allSatisfy { $0.map(\.bitPattern) == results[0].map(\.bitPattern) }, "\(results)")
        #expect(results[0][0] > 0 && results[0][1] > 0)
    }
}
