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

/// Where the engine's loop gets batches from.
@usableFromInline
protocol BatchSource {
    associatedtype Batch
    /// Whether batches are fetched (GET_BATCH events fire); false when running without data.
    static var fetchesBatches: Bool { get }
    /// Whether a pass is under way.
    var isStarted: Bool { get }
    /// Batches per pass when the source knows it.
    var knownCount: Int? { get }
    /// Starts a pass positioned after the run's `iteration`.
    mutating func start(after iteration: Int)
    /// The next batch, or nil when the pass is exhausted.
    mutating func next() -> Batch?
    /// Forgets the current pass.
    mutating func reset()
}

/// Batches from any sequence; resumable sequences start at the run's position.
@usableFromInline
struct SequenceSource<Data: Sequence>: BatchSource {
    @usableFromInline let data: Data
    @usableFromInline var iterator: Data.Iterator?

    @inlinable init(data: Data) {
        self.data = data
        iterator = nil
    }

    @inlinable static var fetchesBatches: Bool { true }
    @inlinable var isStarted: Bool { iterator != nil }

    @inlinable var knownCount: Int? {
        if let resumable = data as? any ResumableSequence { return resumable.batchesPerPass }
        if let collection = data as? any Collection { return collection.count }
        return nil
    }

    @inlinable mutating func start(after iteration: Int) {
        if let resumable = data as? any ResumableSequence {
            iterator = (Self.makeIterator(resumable, after: iteration) as! Data.Iterator)
        } else {
            iterator = data.makeIterator()
        }
    }

    @usableFromInline static func makeIterator<R: ResumableSequence>(_ data: R, after iteration: Int) -> Any {
        data.makeIterator(startingAfter: iteration)
    }

    @inlinable @inline(__always)
    mutating func next() -> Data.Element? { iterator!.next() }

    @inlinable mutating func reset() { iterator = nil }
}

/// No data: each iteration processes `()`; GET_BATCH events do not fire.
@usableFromInline
struct NoDataSource: BatchSource {
    @inlinable init() {}
    @inlinable static var fetchesBatches: Bool { false }
    @usableFromInline var isStarted = false
    @inlinable var knownCount: Int? { nil }
    @inlinable mutating func start(after iteration: Int) { isStarted = true }
    @inlinable mutating func next() -> Void? { () }
    @inlinable mutating func reset() { isStarted = false }
}

/// The loop's source: the run's data, or the data a handler swapped in with `setData(_:)`.
@usableFromInline
struct RunSource<Base: BatchSource>: BatchSource {
    @usableFromInline var base: Base
    @usableFromInline var replacement: ErasedSource<Base.Batch>?

    @inlinable init(base: Base) {
        self.base = base
        replacement = nil
    }

    @inlinable static var fetchesBatches: Bool { Base.fetchesBatches }
    @inlinable var isStarted: Bool { replacement?.isStarted ?? base.isStarted }
    @inlinable var knownCount: Int? { replacement?.knownCount ?? base.knownCount }

    @inlinable mutating func start(after iteration: Int) {
        if let replacement { replacement.start(after: iteration) } else { base.start(after: iteration) }
    }

    @inlinable @inline(__always)
    mutating func next() -> Base.Batch? {
        if let replacement { return replacement.next() }
        return base.next()
    }

    @inlinable mutating func reset() {
        if let replacement { replacement.reset() } else { base.reset() }
    }
}

/// A data source of any sequence type, for data swapped in mid-run.
@usableFromInline
final class ErasedSource<Batch> {
    @usableFromInline let startAfter: (Int) -> Void
    @usableFromInline let nextBatch: () -> Batch?
    @usableFromInline let resetPass: () -> Void
    @usableFromInline let started: () -> Bool
    @usableFromInline let count: Int?

    init<Data: Sequence>(_ data: Data) where Data.Element == Batch {
        let holder = SourceHolder(SequenceSource(data: data))
        count = holder.source.knownCount
        startAfter = { holder.source.start(after: $0) }
        nextBatch = { holder.source.next() }
        resetPass = { holder.source.reset() }
        started = { holder.source.isStarted }
    }

    @usableFromInline var isStarted: Bool { started() }
    @usableFromInline var knownCount: Int? { count }
    @usableFromInline func start(after iteration: Int) { startAfter(iteration) }
    @usableFromInline func next() -> Batch? { nextBatch() }
    @usableFromInline func reset() { resetPass() }
}

/// A sequence source behind a reference, so that closures can advance it.
final class SourceHolder<Data: Sequence> {
    var source: SequenceSource<Data>
    init(_ source: SequenceSource<Data>) { self.source = source }
}
