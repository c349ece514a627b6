import EngineCore
import NeuralNet

/// One batch of labelled samples, viewing the loader's reusable buffers (valid until the next batch).
public struct LabeledBatch {
    /// Row-major features, `count x featureCount`.
    public let features: UnsafeBufferPointer<Float>
    /// Class labels, `count` of them.
    public let labels: UnsafeBufferPointer<Int32>
    /// Samples in the batch.
    public let count: Int
    /// Features per sample.
    public let featureCount: Int
    /// The epoch of the data this batch belongs to (0-based pass over the data).
    public let dataEpoch: Int
    /// The batch's position within its epoch on this rank (0-based).
    public let indexInEpoch: Int
}

/// Batches of a data set for one rank, in the order its `DistributedSampler` gives, without allocating.
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
    /// Which samples this rank takes each epoch.
    public let sampler: DistributedSampler
    /// Whether a last partial batch is dropped.
    public let dropLastBatch: Bool
    /// Samples gathered into batches so far (skipped batches are never gathered).
    public private(set) var loadedSamples = 0
    /// Where a run interrupted on another world size left its epoch: the global order positions before
    /// `consumed` were trained on already. That epoch's remaining real samples are re-sharded over this
    /// world (and padded again by repeating its first remaining indices); later epochs are unaffected.
    public var resumePoint: (epoch: Int, consumed: Int)?

    private let featureBuffer: UnsafeMutableBufferPointer<Float>
    private let labelBuffer: UnsafeMutableBufferPointer<Int32>

    /// A loader of `batchSize`-sample batches of `dataset` for the rank of `sampler`.
    public init(dataset: Dataset, batchSize: Int, sampler: DistributedSampler, dropLastBatch: Bool = false) {
        precondition(batchSize > 0, "batch size must be positive")
        precondition(sampler.count == dataset.count, "the sampler was made for another data set")
        self.dataset = dataset
        self.batchSize = batchSize
        self.sampler = sampler
        self.dropLastBatch = dropLastBatch
        featureBuffer = .allocate(capacity: Swift.max(1, batchSize * dataset.featureCount))
        labelBuffer = .allocate(capacity: batchSize)
    }

    deinit {
        featureBuffer.deallocate()
        labelBuffer.deallocate()
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
            let indices = remainingIndices(epoch: epoch, consumed: resumePoint.consumed)
            let first = perPass - batches(of: indices.count)
            return Iterator(loader: self, epoch: epoch, indices: indices, position: Swift.max(iteration % perPass - first, 0),
                            offset: first)
        }
        return Iterator(loader: self, epoch: epoch, indices: sampler.indices(epoch: epoch), position: iteration % perPass)
    }

    private func batches(of samples: Int) -> Int {
        dropLastBatch ? samples / batchSize : (samples + batchSize - 1) / batchSize
    }

    /// This rank's share of an epoch's order after its first `consumed` positions, padded to the world size.
    func remainingIndices(epoch: Int, consumed: Int) -> [Int] {
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

    /// Gathers the samples of batch `index` of an epoch into the reusable buffers.
    fileprivate func load(_ indices: ArraySlice<Int>, epoch: Int, index: Int) -> LabeledBatch {
        let count = indices.count
        let features = UnsafeMutableBufferPointer(rebasing: featureBuffer[0..<(count * dataset.featureCount)])
        let labels = UnsafeMutableBufferPointer(rebasing: labelBuffer[0..<count])
        dataset.copyBatch(indices: indices, features: features, labels: labels)
        loadedSamples += count
        return LabeledBatch(features: UnsafeBufferPointer(features), labels: UnsafeBufferPointer(labels), count: count,
                            featureCount: dataset.featureCount, dataEpoch: epoch, indexInEpoch: index)
    }

    /// Walks one epoch's batches.
    public struct Iterator: IteratorProtocol {
        let loader: DataLoader
        let epoch: Int
        let indices: [Int]
        var position: Int
        /// Batch number of the first batch of `indices` within the epoch (non-zero after a re-sharded resume).
        var offset = 0

        public mutating func next() -> LabeledBatch? {
            guard position + offset < loader.batchesPerPass else { return nil }
            let start = position * loader.batchSize
            let end = Swift.min(start + loader.batchSize, indices.count)
            guard start < end else { return nil }
            defer { position += 1 }
            return loader.load(indices[start..<end], epoch: epoch, index: position + offset)
        }
    }
}
