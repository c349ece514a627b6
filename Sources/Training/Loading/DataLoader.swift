import EngineCore
import NeuralNet

/// Batches of a data set for one rank, in the order its `DistributedSampler` gives, as `SupervisedBatch` values.
///
/// The engine starts each pass at its current iteration (`ResumableSequence`), so a resumed run
/// computes the indices of the skipped batches but never loads their samples (`loadedSamples` counts
/// what was actually gathered). Each pass over the data is a new epoch of the sampler: the epoch is a
/// function of the engine's iteration, so it cannot be forgotten (PyTorch's `set_epoch`).
public final class DataLoader: ResumableSequence {
    /// The samples.
    public let dataset: Dataset
    /// Samples per batch on this rank.
    public let batchSize: Int
    /// Which samples this rank takes each epoch (with virtual shards: its first shard's).
    public let sampler: DistributedSampler
    /// With virtual shards, one sampler per shard of this rank, in shard order; otherwise `[sampler]`.
    public let shardSamplers: [DistributedSampler]
    /// Whether a last partial batch is dropped.
    public let dropLastBatch: Bool
    /// Samples gathered into batches so far (skipped batches are never gathered).
    public private(set) var loadedSamples = 0
    /// Where a run interrupted on another world size left its epoch: the global order positions before
    /// `consumed` were trained on already, and this world's batches of that epoch start at batch `firstBatch`.
    /// That epoch's remaining real samples are re-sharded over this world (and padded again by repeating its
    /// first remaining indices); later epochs are unaffected. Saved and restored with the loader's state dict.
    public var resumePoint: (epoch: Int, consumed: Int, firstBatch: Int)?
    /// The world size and batch size of the run whose state was loaded last, and its resume point.
    /// How the last continuation moved a saved run onto this loader's world or batch size (nil when it did not).
    public internal(set) var continuationNote: String?
    var loadedLayout: (worldSize: Int, batchSize: Int, resumePoint: (epoch: Int, consumed: Int, firstBatch: Int)?)?

    /// A loader of `batchSize`-sample batches of `dataset` for the rank of `sampler`.
    /// - Throws: `ArgumentError` for a batch size below 1 or a sampler made for another number of samples.
    public init(dataset: Dataset, batchSize: Int, sampler: DistributedSampler, dropLastBatch: Bool = false) throws {
        try ArgumentError.require(batchSize > 0, "DataLoader(batchSize:)", batchSize, "at least 1")
        try ArgumentError.require(
            sampler.count == dataset.count, "DataLoader(sampler:)", "a sampler of \(sampler.count) samples",
            "made for the data set's \(dataset.count)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.sampler = sampler
        self.dropLastBatch = dropLastBatch
        shardSamplers = [sampler]
    }

    /// A loader for virtual shards: each batch holds this rank's micro-batches of `microBatchSize` samples, one per
    /// shard it owns, in shard order. Shard `s` takes every `shards.count`-th position of each epoch's order from
    /// position `s` (padded to a multiple of the shard count), so batches, the epoch's last batch and the resume
    /// point depend on the shards, never on the world size.
    /// - Throws: `ArgumentError` for a micro-batch size below 1.
    public init(dataset: Dataset, microBatchSize: Int, shards: VirtualShards, seed: UInt64, shuffle: Bool = true) throws {
        try ArgumentError.require(microBatchSize > 0, "DataLoader(microBatchSize:)", microBatchSize, "at least 1")
        self.dataset = dataset
        batchSize = microBatchSize
        dropLastBatch = false
        shardSamplers = shards.ownedShards.map {
            DistributedSampler(count: dataset.count, worldSize: shards.count, rank: $0, seed: seed, shuffle: shuffle, tail: .pad)
        }
        sampler = shardSamplers[0]
    }

    /// Batches in one epoch on this rank (the same on every rank when the sampler pads or drops).
    public var batchesPerPass: Int {
        let samples = sampler.samplesPerRank
        return dropLastBatch ? samples / batchSize : (samples + batchSize - 1) / batchSize
    }

    /// An iterator positioned at the batch the run's iteration `iteration + 1` processes.
    public func makeIterator(startingAfter iteration: Int) -> Iterator {
        let perPass = Swift.max(1, batchesPerPass)
        let epoch = iteration / perPass
        if let resumePoint, resumePoint.epoch == epoch {
            let indices = shardSamplers.map { remainingIndices(epoch: epoch, consumed: resumePoint.consumed, sampler: $0) }
            let first = perPass - batches(of: indices[0].count)
            return Iterator(
                loader: self, epoch: epoch, indices: indices, position: Swift.max(iteration % perPass - first, 0),
                offset: first)
        }
        return Iterator(
            loader: self, epoch: epoch, indices: shardSamplers.map { $0.indices(epoch: epoch) },
            position: iteration % perPass)
    }

    private func batches(of samples: Int) -> Int {
        dropLastBatch ? samples / batchSize : (samples + batchSize - 1) / batchSize
    }

    /// This rank's share of an epoch's order after its first `consumed` positions, padded to the world size.
    func remainingIndices(epoch: Int, consumed: Int) -> [Int] {
        remainingIndices(epoch: epoch, consumed: consumed, sampler: sampler)
    }

    private func remainingIndices(epoch: Int, consumed: Int, sampler: DistributedSampler) -> [Int] {
        let order = sampler.globalOrder(epoch: epoch).prefix(sampler.count)
        let remaining = Array(order.dropFirst(Swift.min(consumed, order.count)))
        guard !remaining.isEmpty else { return [] }
        let world = sampler.worldSize
        let padded = (remaining.count + world - 1) / world * world
        let positions = stride(from: sampler.rank, to: padded, by: world)
        return positions.map { remaining[$0 < remaining.count ? $0 : ($0 - remaining.count) % remaining.count] }
    }

    /// Batches this rank takes in the interrupted epoch when resuming at `resumePoint`.
    public func remainingBatches(epoch: Int, consumed: Int) -> Int {
        batches(of: remainingIndices(epoch: epoch, consumed: consumed).count)
    }

    /// An iterator over the first epoch.
    public func makeIterator() -> Iterator { makeIterator(startingAfter: 0) }

    /// Gathers the samples of batch `index` of an epoch into a new batch.
    fileprivate func load<Indices: Collection<Int>>(_ indices: Indices, epoch: Int, index: Int) -> SupervisedBatch {
        loadedSamples += indices.count
        let (inputs, targets) = dataset.batch(indices)
        return SupervisedBatch(inputs: inputs, targets: targets, dataEpoch: epoch, indexInEpoch: index)
    }

    /// Walks one epoch's batches.
    public struct Iterator: IteratorProtocol {
        let loader: DataLoader
        let epoch: Int
        /// This rank's indices for the epoch, one list per shard sampler.
        let indices: [[Int]]
        var position: Int
        /// Batch number of the first batch of `indices` within the epoch (non-zero after a re-sharded resume).
        var offset = 0

        public mutating func next() -> SupervisedBatch? {
            guard position + offset < loader.batchesPerPass else { return nil }
            let start = position * loader.batchSize
            let end = Swift.min(start + loader.batchSize, indices[0].count)
            guard start < end else { return nil }
            defer { position += 1 }
            if indices.count == 1 { return loader.load(indices[0][start..<end], epoch: epoch, index: position + offset) }
            return loader.load(indices.flatMap { $0[start..<end] }, epoch: epoch, index: position + offset)
        }
    }
}
