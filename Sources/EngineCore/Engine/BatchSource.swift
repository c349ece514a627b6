/// Where the engine's loop gets batches from.
@usableFromInline
protocol BatchSource {
    associatedtype Batch
    /// Whether batches are fetched (GET_BATCH events fire); false when running without data.
    var fetchesBatches: Bool { get }
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

    @inlinable var fetchesBatches: Bool { true }
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
    @inlinable var fetchesBatches: Bool { false }
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

    @inlinable var fetchesBatches: Bool { base.fetchesBatches }
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

/// A data source of any type: data swapped in mid-run with `setData(_:)`, or an interrupted run's pass, kept for the
/// next `run` whatever data it is given (as Ignite keeps its data iterator).
@usableFromInline
final class ErasedSource<Batch>: BatchSource {
    @usableFromInline let startAfter: (Int) -> Void
    @usableFromInline let nextBatch: () -> Batch?
    @usableFromInline let resetPass: () -> Void
    @usableFromInline let started: () -> Bool
    @usableFromInline let count: Int?
    @usableFromInline let fetches: Bool

    /// The batches of `data`, from its beginning or, when resumable, from the position asked.
    convenience init<Data: Sequence>(_ data: Data) where Data.Element == Batch {
        self.init(keeping: SequenceSource(data: data))
    }

    /// `source` as it is, its pass included.
    @usableFromInline init<Source: BatchSource>(keeping source: Source) where Source.Batch == Batch {
        let holder = SourceHolder(source)
        count = source.knownCount
        fetches = source.fetchesBatches
        startAfter = { holder.source.start(after: $0) }
        nextBatch = { holder.source.next() }
        resetPass = { holder.source.reset() }
        started = { holder.source.isStarted }
    }

    @usableFromInline var fetchesBatches: Bool { fetches }
    @usableFromInline var isStarted: Bool { started() }
    @usableFromInline var knownCount: Int? { count }
    @usableFromInline func start(after iteration: Int) { startAfter(iteration) }
    @usableFromInline func next() -> Batch? { nextBatch() }
    @usableFromInline func reset() { resetPass() }
}

/// A source behind a reference, so that closures can advance it.
final class SourceHolder<Source: BatchSource> {
    var source: Source
    init(_ source: Source) { self.source = source }
}
