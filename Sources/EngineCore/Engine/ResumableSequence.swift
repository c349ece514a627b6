/// A data source that can begin a pass at any point of a run without producing the batches before it.
///
/// The engine asks for an iterator positioned after the run's current iteration whenever it (re)starts the
/// data: at the start of a run, after resume, after the data is exhausted, and after `terminateEpoch()`.
/// A distributed sampler implements this by computing indices only, so skipped batches are never loaded.
/// Plain sequences restart from their beginning, as Ignite's base engine does.
public protocol ResumableSequence: Sequence {
    /// Batches in one full pass over the data: the default epoch length.
    var batchesPerPass: Int { get }
    /// An iterator whose first batch is the one the run's iteration `iteration + 1` should process.
    func makeIterator(startingAfter iteration: Int) -> Iterator
    /// Where a run whose state dict was saved at `saved` continues on this data: the data answers, since only it
    /// knows the saved layout (a loader saved by another world size re-shards the interrupted epoch). The engine asks
    /// at the first `run` after `loadStateDict`; by default the run continues where it was saved.
    func continuation(of saved: RunPosition) -> RunPosition
}

extension ResumableSequence {
    public func continuation(of saved: RunPosition) -> RunPosition { saved }
}

/// Where a run stands: the iterations done and the epoch length they were counted in.
public struct RunPosition: Sendable, Equatable {
    /// Iterations completed.
    public var iteration: Int
    /// Iterations per epoch.
    public var epochLength: Int

    /// A position after `iteration` iterations of epochs of `epochLength`.
    public init(iteration: Int, epochLength: Int) {
        self.iteration = iteration
        self.epochLength = epochLength
    }

    /// The epoch the next iteration belongs to, counted from 0.
    public var epoch: Int { iteration / Swift.max(epochLength, 1) }
    /// Iterations done within that epoch.
    public var withinEpoch: Int { iteration % Swift.max(epochLength, 1) }
}
