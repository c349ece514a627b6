import EngineCore

/// The loader owns the data's resume point: which samples of the interrupted epoch were trained, on which world.
extension DataLoader: Stateful {
    /// The world size, per-rank batch size and, after a resume on another world, the resume point.
    public func stateDict() -> StateDict {
        [
            "world_size": .int(sampler.worldSize), "batch_size": .int(batchSize),
            "resume_point": resumePoint.map {
                .dictionary(["epoch": .int($0.epoch), "consumed": .int($0.consumed), "first_batch": .int($0.firstBatch)])
            } ?? .null
        ]
    }

    /// Remembers the saved run's layout; the engine's next `run` asks `continuation(of:)` where it continues.
    public func loadStateDict(_ state: StateDict) throws {
        let worldSize = try state.int("world_size")
        let batchSize = try state.int("batch_size")
        guard worldSize >= 1, worldSize <= 1 << 20, batchSize >= 1, batchSize <= 1 << 30 else {
            throw StateDictError.invalidValue(key: "world_size", reason: "a run of \(worldSize) ranks x batch \(batchSize)")
        }
        var point: (epoch: Int, consumed: Int, firstBatch: Int)?
        if case .dictionary(let saved)? = state["resume_point"] {
            point = (try saved.int("epoch"), try saved.int("consumed"), try saved.int("first_batch"))
            guard point!.epoch >= 0, point!.epoch <= 1 << 40, point!.consumed >= 0, point!.consumed <= 1 << 40,
                point!.firstBatch >= 0, point!.firstBatch <= 1 << 40
            else {
                throw StateDictError.invalidValue(key: "resume_point", reason: "negative position")
            }
        }
        loadedLayout = (worldSize, batchSize, point)
    }

    /// Where the engine continues after the loaded state (it asks at its first `run` after `loadStateDict`): the
    /// position on this loader's world that comes after the saved run's. The same sample order goes on: the
    /// interrupted epoch's remaining samples are re-sharded over this world; later epochs are this world's ordinary
    /// epochs. When the world or the batch size changed, `continuationNote` says how.
    public func continuation(of savedPosition: RunPosition) -> RunPosition {
        let (iteration, length, note) = continuation(fromIteration: savedPosition.iteration, epochLength: savedPosition.epochLength)
        continuationNote = note
        return RunPosition(iteration: iteration, epochLength: length)
    }

    func continuation(fromIteration savedIteration: Int, epochLength savedLength: Int)
        -> (iteration: Int, epochLength: Int, note: String?)
    {
        let length = batchesPerPass
        guard let saved = loadedLayout else { return (savedIteration, savedLength, nil) }
        loadedLayout = nil
        let epoch = savedIteration / Swift.max(savedLength, 1)
        let batch = savedIteration % Swift.max(savedLength, 1)
        if saved.worldSize == sampler.worldSize && saved.batchSize == batchSize {
            resumePoint = saved.resumePoint
            return (savedIteration, savedLength, nil)
        }
        // Global order positions of epoch `epoch` already trained on, whatever world trained them.
        var consumed = batch * saved.batchSize * saved.worldSize
        if let point = saved.resumePoint, point.epoch == epoch {
            consumed = point.consumed + Swift.max(batch - point.firstBatch, 0) * saved.batchSize * saved.worldSize
        }
        var iteration = (epoch + 1) * length
        if consumed < sampler.count && batch > 0 {
            let remaining = remainingBatches(epoch: epoch, consumed: consumed)
            iteration = epoch * length + (length - remaining)
            resumePoint = (epoch, consumed, length - remaining)
        } else if batch == 0 {
            iteration = epoch * length
            resumePoint = nil
        }
        let note =
            "the checkpoint was written by \(saved.worldSize) ranks x batch \(saved.batchSize); continuing epoch "
            + "\(epoch + 1) on \(sampler.worldSize) x \(batchSize) after its first \(Swift.min(consumed, sampler.count)) samples"
        return (iteration, length, note)
    }
}
