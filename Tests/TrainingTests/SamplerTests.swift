import Testing
import Training

@Suite("The distributed sampler and the data loader")
struct SamplerTests {
    @Test("shards are disjoint and cover the data, padded by repeating the first indices", arguments: [(10, 4), (12, 4), (7, 3), (5, 8)])
    func shardsCover(count: Int, world: Int) {
        let samplers = (0..<world).map { DistributedSampler(count: count, worldSize: world, rank: $0, seed: 9) }
        let shards = samplers.map { $0.indices(epoch: 2) }
        let perRank = (count + world - 1) / world
        #expect(shards.allSatisfy { $0.count == perRank })
        let all = shards.flatMap { $0 }
        #expect(Set(all) == Set(0..<count))
        let order = samplers[0].globalOrder(epoch: 2)
        #expect(Array(order[count...]) == Array(order[..<(perRank * world - count)].prefix(perRank * world - count)))
        for rank in 0..<world { #expect(shards[rank] == stride(from: rank, to: order.count, by: world).map { order[$0] }) }
    }

    @Test("the order changes with the epoch and is identical for identical seeds")
    func epochsAndSeeds() {
        let a = DistributedSampler(count: 100, worldSize: 2, rank: 1, seed: 3)
        #expect(a.indices(epoch: 0) != a.indices(epoch: 1))
        #expect(a.indices(epoch: 5) == DistributedSampler(count: 100, worldSize: 2, rank: 1, seed: 3).indices(epoch: 5))
        #expect(a.indices(epoch: 5) != DistributedSampler(count: 100, worldSize: 2, rank: 1, seed: 4).indices(epoch: 5))
        #expect(DistributedSampler(count: 6, shuffle: false).indices(epoch: 3) == [0, 1, 2, 3, 4, 5])
    }

    @Test("drop and uneven tails: no padding; uneven keeps every sample exactly once")
    func tails() {
        let dropped = (0..<3).map { DistributedSampler(count: 10, worldSize: 3, rank: $0, tail: .drop).indices(epoch: 0) }
        #expect(dropped.allSatisfy { $0.count == 3 } && Set(dropped.flatMap { $0 }).count == 9)
        let uneven = (0..<3).map { DistributedSampler(count: 10, worldSize: 3, rank: $0, shuffle: false, tail: .uneven) }
        #expect(uneven.map(\.samplesPerRank) == [4, 3, 3])
        #expect(uneven.flatMap { $0.indices(epoch: 0) }.sorted() == Array(0..<10))
    }

    func dataset(_ count: Int) -> Dataset {
        Dataset(
            features: (0..<count).flatMap { [Float($0), Float(-$0)] }, featureCount: 2,
            labels: (0..<count).map { Int32($0 % 2) }, classNames: ["a", "b"])
    }

    @Test("rank r's batch k holds global positions (k·B + j)·world + r of the epoch's order")
    func batchesFollowTheOrder() throws {
        let sampler = DistributedSampler(count: 20, worldSize: 2, rank: 1, seed: 1)
        let loader = try DataLoader(dataset: dataset(20), batchSize: 3, sampler: sampler)
        let order = sampler.globalOrder(epoch: 0)
        var iterator = loader.makeIterator()
        let second = (iterator.next(), iterator.next()).1!
        #expect(loader.batchesPerPass == 4)
        let expected = (0..<3).map { order[(3 + $0) * 2 + 1] }
        #expect(second.inputs.values.enumerated().filter { $0.offset % 2 == 0 }.map { Int($0.element) } == expected)
    }

    @Test("resuming at an iteration computes indices only: skipped batches are never loaded")
    func resumeSkipsWithoutLoading() throws {
        let sampler = DistributedSampler(count: 40, worldSize: 1, rank: 0, seed: 2)
        let loader = try DataLoader(dataset: dataset(40), batchSize: 4, sampler: sampler)
        var iterator = loader.makeIterator(startingAfter: 17)
        let batch = iterator.next()!
        #expect(loader.loadedSamples == 4)
        #expect(batch.dataEpoch == 1 && batch.indexInEpoch == 7)
        let order = sampler.globalOrder(epoch: 1)
        #expect(batch.inputs.values.enumerated().filter { $0.offset % 2 == 0 }.map { Int($0.element) } == Array(order[28..<32]))
    }
}

@Suite("Resuming on another world size")
struct WorldSizeChangeTests {
    @Test("2 ranks stopped mid-epoch, resumed on 3: the epoch's samples are each trained exactly once (padding aside)")
    func resharding() throws {
        let count = 100
        let batch = 8
        let data = Dataset(
            features: (0..<count).map(Float.init), featureCount: 1, labels: Array(repeating: 0, count: count),
            classNames: ["x"])
        let before = DistributedSampler(count: count, worldSize: 2, rank: 0, seed: 4)
        let order = before.globalOrder(epoch: 1)
        // Two ranks trained 3 batches of epoch 1: global positions 0..<48.
        let consumed = 3 * batch * 2
        var seen = Array(order[0..<consumed])
        for rank in 0..<3 {
            let loader = try DataLoader(
                dataset: data, batchSize: batch,
                sampler: DistributedSampler(count: count, worldSize: 3, rank: rank, seed: 4))
            let remaining = loader.remainingBatches(epoch: 1, consumed: consumed)
            loader.resumePoint = (1, consumed, loader.batchesPerPass - remaining)
            #expect(remaining == 3, "52 samples left: 18 per rank (padded), 3 batches of 8")
            var iterator = loader.makeIterator(startingAfter: loader.batchesPerPass + loader.batchesPerPass - remaining)
            var batches = 0
            while let next = iterator.next() {
                seen += next.inputs.values.map { Int($0) }
                batches += 1
            }
            #expect(batches == remaining)
            // The next epoch is the ordinary epoch 2 of the new world.
            var following = loader.makeIterator(startingAfter: 2 * loader.batchesPerPass)
            #expect(following.next()?.dataEpoch == 2)
        }
        #expect(Set(seen) == Set(0..<count))
        #expect(seen.count == count + 2, "the 52 remaining samples padded to 54 for 3 ranks")
    }
}
