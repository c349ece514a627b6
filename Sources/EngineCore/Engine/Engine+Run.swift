import Dispatch

/// Thrown internally to unwind the loop after `terminate()`.
@usableFromInline struct TerminateSignal: Error {
    @inlinable init() {}
}
/// Thrown internally to unwind the epoch after `terminateEpoch()`.
@usableFromInline struct TerminateEpochSignal: Error {
    @inlinable init() {}
}

/// A place in the loop where a run can stop after `interrupt()` and continue on the next `run`.
@usableFromInline enum LoopPoint: Sendable {
    /// Before the epoch loop's test: start an epoch, or finish the run.
    case nextEpoch
    case afterEpochStarted
    /// Before `.getBatchStarted` of the next iteration.
    case fetch
    case afterGetBatchStarted
    case afterGetBatchCompleted
    case afterIterationStarted
    case afterIterationCompleted
    case afterDataLoaderStop
    /// Fire `.epochCompleted` (unless skipped) and go on.
    case endEpoch
    case afterEpochCompleted
}

/// What an interrupted run keeps for the next `run`: where it stopped, its data source and its epoch's progress.
@usableFromInline struct Suspension {
    @usableFromInline var point: LoopPoint
    @usableFromInline var source: Any
    @usableFromInline var counter: Int
    @usableFromInline var exhaustedOnce: Bool
    @usableFromInline var runStart: UInt64
    @usableFromInline var epochStart: UInt64

    @inlinable init(point: LoopPoint, source: Any, counter: Int, exhaustedOnce: Bool, runStart: UInt64, epochStart: UInt64) {
        self.point = point
        self.source = source
        self.counter = counter
        self.exhaustedOnce = exhaustedOnce
        self.runStart = runStart
        self.epochStart = epochStart
    }
}

extension Engine {
    /// Runs the process function over `data` for `maxEpochs` epochs (default 1) or `maxIterations`
    /// iterations, firing events on the way. Ignite's `run`, with its rules for continuing:
    ///
    /// - A fresh engine, or one whose last run completed and is given no larger limit, starts a new run.
    /// - A larger `maxEpochs`/`maxIterations` than a completed run's continues it ("continue training").
    /// - After `terminate()` the next run starts at the next epoch, with a full epoch; a run terminated in its
    ///   last epoch has nothing left to do. After `interrupt()` it continues exactly where it stopped, with the
    ///   same data iterator, firing neither `.started` nor `.epochStarted` again.
    /// - After `loadStateDict(_:)` it resumes at the saved iteration, mid-epoch included.
    ///
    /// - Throws: `EngineError` for bad arguments (zero-size data, a limit below the progress, switching between
    ///   epoch and iteration limits, a different epoch length); otherwise what the process function or a handler
    ///   threw, unless an `.exceptionRaised` handler is attached (it then receives the error in `state.error`
    ///   and the run ends without `.completed`).
    @inlinable @discardableResult
    public func run<Data: Sequence>(
        _ data: Data, maxEpochs: Int? = nil, maxIterations: Int? = nil, epochLength: Int? = nil
    ) throws -> State<Batch, Output> where Data.Element == Batch {
        guard !isRunning else { throw EngineError.reentrantRun }
        isRunning = true
        defer { isRunning = false }
        // A loaded state dict is placed by the data: it knows where the saved run continues on it.
        if repositionsOnNextRun, let length = state.epochLength, let resumable = data as? any ResumableSequence {
            let position = resumable.continuation(of: RunPosition(iteration: state.iteration, epochLength: length))
            precondition(position.iteration >= 0 && position.epochLength >= 1, "a continuation must be a position of a run")
            state.iteration = position.iteration
            state.epochLength = position.epochLength
            state.epoch = position.epoch
        }
        repositionsOnNextRun = false
        let fresh = SequenceSource(data: data)
        try prepare(
            maxEpochs: maxEpochs, maxIterations: maxIterations, epochLength: epochLength,
            dataCount: fresh.knownCount, fetches: true)
        var source: RunSource<SequenceSource<Data>>
        if let suspension, let suspended = suspension.source as? RunSource<SequenceSource<Data>> {
            source = suspended
        } else {
            source = RunSource(base: fresh)
            // Data of another type after interrupt(): it continues the interrupted run from the same position.
            if let suspension { source.start(after: alignedPosition(counter: suspension.counter)) }
        }
        try loop(&source)
        return state
    }

    /// Whether the run has reached its epoch or iteration limit.
    @inlinable public var isDone: Bool {
        if let maxIterations = state.maxIterations, state.iteration >= maxIterations { return true }
        guard let maxEpochs = state.maxEpochs else { return false }
        if let length = state.epochLength {
            let (total, overflow) = length.multipliedReportingOverflow(by: maxEpochs)
            if !overflow && state.iteration >= total { return true }
        }
        return state.epoch >= maxEpochs
    }

    /// Applies `run`'s arguments to the state: a new run, a continued one, or an error.
    @usableFromInline func prepare(
        maxEpochs: Int?, maxIterations: Int?, epochLength: Int?, dataCount: Int?,
        fetches: Bool
    ) throws {
        if maxEpochs != nil && maxIterations != nil { throw EngineError.conflictingLimits }
        if let maxEpochs, maxEpochs < 1 { throw EngineError.invalidLimit("maxEpochs must be positive, got \(maxEpochs)") }
        if let maxIterations, maxIterations < 1 {
            throw EngineError.invalidLimit("maxIterations must be positive, got \(maxIterations)")
        }
        if let epochLength, epochLength < 1 { throw EngineError.invalidLimit("epochLength must be positive, got \(epochLength)") }
        if maxIterations != nil && state.maxEpochs != nil {
            throw EngineError.limitSwitch("from maxEpochs to maxIterations: set state.maxEpochs = nil first")
        }
        if maxEpochs != nil && state.maxIterations != nil {
            throw EngineError.limitSwitch("from maxIterations to maxEpochs: set state.maxIterations = nil first")
        }
        if state.maxEpochs != nil, let maxEpochs {
            guard maxEpochs >= state.epoch else {
                throw EngineError.resumeMismatch(
                    "maxEpochs \(maxEpochs) is less than the epochs already run (\(state.epoch)); "
                        + "set state.maxEpochs = nil to start again")
            }
            state.maxEpochs = maxEpochs
        }
        if state.maxIterations != nil, let maxIterations {
            guard maxIterations >= state.iteration else {
                throw EngineError.resumeMismatch(
                    "maxIterations \(maxIterations) is less than the iterations already run "
                        + "(\(state.iteration)); set state.maxIterations = nil to start again")
            }
            state.maxIterations = maxIterations
        }
        let isNewRun =
            (state.maxEpochs == nil && state.maxIterations == nil)
            || (isDone && suspension == nil && !terminatedLastRun)
        if isNewRun {
            let length = epochLength ?? dataCount ?? state.epochLength
            if let length, length < 1 { throw EngineError.emptyData }
            if !fetches && length == nil { throw EngineError.missingEpochLength }
            state.iteration = 0
            state.epoch = 0
            state.maxIterations = maxIterations
            state.maxEpochs = maxIterations == nil ? (maxEpochs ?? 1) : nil
            state.epochLength = length
            suspension = nil
            pendingData = nil
            terminatedLastRun = false
            startsFreshEpoch = false
        } else {
            if let stored = state.epochLength {
                if let epochLength, epochLength != stored {
                    throw EngineError.resumeMismatch("epochLength \(epochLength) differs from the run's \(stored)")
                }
            } else if let length = epochLength ?? dataCount {
                if length < 1 { throw EngineError.emptyData }
                state.epochLength = length
            }
            if !fetches && state.epochLength == nil { throw EngineError.missingEpochLength }
            if suspension == nil {
                if terminatedLastRun {
                    // The terminated epoch is over: the next one is full, counting iterations on.
                    startsFreshEpoch = true
                } else if let length = state.epochLength {
                    // Resuming from a state dict: redo the saved epoch from its saved iteration.
                    state.epoch = state.iteration / length
                    resumingWithinEpoch = state.iteration % length != 0
                }
            }
        }
    }

    /// The loop of a run, as a machine over `LoopPoint`s so that an interrupted run continues where it stopped.
    @inlinable func loop<Base: BatchSource>(_ source: inout RunSource<Base>) throws where Base.Batch == Batch {
        shouldTerminate = false
        shouldTerminateSingleEpoch = false
        shouldInterrupt = false
        interruptRequested = false
        skipEpochCompletedOnce = false
        state.error = nil
        var point = LoopPoint.nextEpoch
        var counter = 0
        var exhaustedOnce = false
        var runStart = DispatchTime.now().uptimeNanoseconds
        var epochStart = runStart
        if let suspension {
            point = suspension.point
            counter = suspension.counter
            exhaustedOnce = suspension.exhaustedOnce
            runStart = suspension.runStart
            epochStart = suspension.epochStart
            self.suspension = nil
        } else {
            source.reset()
            lastEventID = -1
            state.times[.epochCompleted] = 0
            state.times[.completed] = 0
        }
        let fetches = Base.fetchesBatches
        var reachedIterationLimit = false
        do {
            do {
                if point == .nextEpoch && lastEventID == -1 {
                    try fire(Event.ID.started)
                    if interruptRequested, try pause(at: .nextEpoch, outside: .started) {
                        suspend(&source, .nextEpoch, counter, exhaustedOnce, runStart, epochStart)
                        return
                    }
                }
                machine: while true {
                    do {
                        switch point {
                        case .nextEpoch:
                            guard !isDone && !shouldTerminate else { break machine }
                            state.epoch += 1
                            epochStart = DispatchTime.now().uptimeNanoseconds
                            try fire(Event.ID.epochStarted)
                            if interruptRequested, try pause(at: .afterEpochStarted, outside: .epochStarted) {
                                suspend(&source, .afterEpochStarted, counter, exhaustedOnce, runStart, epochStart)
                                return
                            }
                            fallthrough
                        case .afterEpochStarted:
                            resumingWithinEpoch = false
                            counter = 0
                            exhaustedOnce = false
                            if startsFreshEpoch {
                                source.start(after: alignedPosition(counter: 0))
                                startsFreshEpoch = false
                            } else if !source.isStarted {
                                source.start(after: state.iteration)
                                if let length = state.epochLength { counter = state.iteration % length }
                            }
                            fallthrough
                        case .fetch:
                            state.batch = nil
                            if fetches && lastEventID != Event.ID.dataLoaderStopIteration {
                                try fireIterationEvent(Event.ID.getBatchStarted)
                                if interruptRequested, try pause(at: .afterGetBatchStarted) {
                                    suspend(&source, .afterGetBatchStarted, counter, exhaustedOnce, runStart, epochStart)
                                    return
                                }
                            }
                            fallthrough
                        case .afterGetBatchStarted:
                            if let replacement = pendingData { install(replacement, into: &source, counter: counter) }
                            guard let batch = source.next() else {
                                if state.epochLength == nil {
                                    state.epochLength = counter
                                    if let maxIterations = state.maxIterations {
                                        state.maxEpochs = (maxIterations + counter - 1) / Swift.max(counter, 1)
                                    }
                                    point = .endEpoch
                                    continue machine
                                }
                                if exhaustedOnce {
                                    if !isDone {
                                        warningHandler(
                                            "the data cannot provide more batches but the run is not done "
                                                + "(iteration \(state.iteration) of \(plannedIterations.map(String.init) ?? "?"))")
                                    }
                                    point = .endEpoch
                                    continue machine
                                }
                                if fetches {
                                    try fire(Event.ID.dataLoaderStopIteration)
                                    if interruptRequested, try pause(at: .afterDataLoaderStop) {
                                        suspend(&source, .afterDataLoaderStop, counter, exhaustedOnce, runStart, epochStart)
                                        return
                                    }
                                }
                                point = .afterDataLoaderStop
                                continue machine
                            }
                            state.batch = batch
                            state.output = nil
                            if fetches {
                                try fireIterationEvent(Event.ID.getBatchCompleted)
                                if interruptRequested, try pause(at: .afterGetBatchCompleted) {
                                    suspend(&source, .afterGetBatchCompleted, counter, exhaustedOnce, runStart, epochStart)
                                    return
                                }
                            }
                            fallthrough
                        case .afterGetBatchCompleted:
                            counter += 1
                            exhaustedOnce = false
                            state.iteration += 1
                            isInsideIteration = true
                            try fireIterationEvent(Event.ID.iterationStarted)
                            if interruptRequested, try pause(at: .afterIterationStarted) {
                                suspend(&source, .afterIterationStarted, counter, exhaustedOnce, runStart, epochStart)
                                return
                            }
                            fallthrough
                        case .afterIterationStarted:
                            guard let current = state.batch else { throw EngineError.batchRemoved }
                            let output = try process(self, current)
                            isInsideIteration = false
                            state.output = output
                            try fireIterationEvent(Event.ID.iterationCompleted)
                            if interruptRequested, try pause(at: .afterIterationCompleted) {
                                suspend(&source, .afterIterationCompleted, counter, exhaustedOnce, runStart, epochStart)
                                return
                            }
                            fallthrough
                        case .afterIterationCompleted:
                            if let length = state.epochLength, counter == length {
                                point = .endEpoch
                            } else if let maxIterations = state.maxIterations, state.iteration == maxIterations {
                                shouldTerminate = true
                                reachedIterationLimit = true
                                throw TerminateSignal()
                            } else {
                                point = .fetch
                            }
                        case .afterDataLoaderStop:
                            source.start(after: alignedPosition(counter: counter))
                            exhaustedOnce = true
                            point = .fetch
                        case .endEpoch:
                            let skip = skipEpochCompletedOnce
                            skipEpochCompletedOnce = false
                            state.times[.epochCompleted] = seconds(since: epochStart)
                            if !skip {
                                try fire(Event.ID.epochCompleted)
                                state.times[.epochCompleted] = seconds(since: epochStart)
                            }
                            shouldTerminateSingleEpoch = false
                            if interruptRequested, try pause(at: .afterEpochCompleted) {
                                suspend(&source, .afterEpochCompleted, counter, exhaustedOnce, runStart, epochStart)
                                return
                            }
                            point = .nextEpoch
                        case .afterEpochCompleted:
                            point = .nextEpoch
                        }
                    } catch is TerminateEpochSignal {
                        try fire(Event.ID.terminateSingleEpoch)
                        shouldTerminateSingleEpoch = false
                        interruptRequested = shouldTerminate || shouldInterrupt
                        source.start(after: alignedPosition(counter: counter))
                        skipEpochCompletedOnce = skipEpochCompletedAfterTermination
                        point = .endEpoch
                    }
                }
            } catch is TerminateSignal {
                try fire(Event.ID.terminate)
            }
            state.times[.completed] = seconds(since: runStart)
            terminatedLastRun = shouldTerminate && !reachedIterationLimit
            if !(shouldTerminate && skipCompletedAfterTermination) {
                try fire(Event.ID.completed)
                state.times[.completed] = seconds(since: runStart)
            }
        } catch {
            source.reset()
            suspension = nil
            try handle(error)
        }
        source.reset()
    }

    /// The data position of the current epoch's `counter`-th iteration as if every epoch had been full: where
    /// a resumable source restarts, so that each epoch draws its own pass even after a terminated one.
    @inlinable func alignedPosition(counter: Int) -> Int {
        guard let length = state.epochLength else { return state.iteration }
        let (start, overflow) = Swift.max(state.epoch - 1, 0).multipliedReportingOverflow(by: length)
        return overflow ? state.iteration : start + counter
    }

    /// Keeps the run's place, source and epoch progress for the next `run`, after firing `.interrupt`.
    @inlinable func suspend<Base: BatchSource>(
        _ source: inout RunSource<Base>, _ point: LoopPoint, _ counter: Int,
        _ exhaustedOnce: Bool, _ runStart: UInt64, _ epochStart: UInt64
    ) {
        suspension = Suspension(
            point: point, source: source, counter: counter, exhaustedOnce: exhaustedOnce,
            runStart: runStart, epochStart: epochStart)
    }

    /// Handles a request made by a handler: terminate (throws), terminate the epoch (throws, or an error outside
    /// an epoch), a data replacement (installed at the next fetch), or an interrupt (fires `.interrupt` and
    /// returns true: the run stops here).
    @usableFromInline func pause(at point: LoopPoint, outside event: Event? = nil) throws -> Bool {
        if shouldTerminate { throw TerminateSignal() }
        if shouldTerminateSingleEpoch {
            if let event { throw EngineError.terminateEpochOutsideEpoch(event.name) }
            throw TerminateEpochSignal()
        }
        interruptRequested = false
        guard shouldInterrupt else { return false }
        shouldInterrupt = false
        try fire(Event.ID.interrupt)
        if shouldTerminate || shouldTerminateSingleEpoch { return try pause(at: point, outside: event) }
        return true
    }

    /// Puts data given to `setData(_:)` in place of the current source, positioned at the current iteration.
    @usableFromInline func install<Base: BatchSource>(
        _ replacement: ErasedSource<Batch>, into source: inout RunSource<Base>,
        counter: Int
    ) where Base.Batch == Batch {
        pendingData = nil
        replacement.start(after: alignedPosition(counter: counter))
        source.replacement = replacement
    }

    @usableFromInline var plannedIterations: Int? {
        if let maxIterations = state.maxIterations { return maxIterations }
        guard let length = state.epochLength, let epochs = state.maxEpochs else { return nil }
        let (total, overflow) = length.multipliedReportingOverflow(by: epochs)
        return overflow ? nil : total
    }

    @usableFromInline func handle(_ error: any Error) throws {
        state.error = error
        guard hasEventHandler(for: .exceptionRaised) else { throw error }
        try fire(Event.ID.exceptionRaised)
    }

    @usableFromInline func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

extension Engine where Batch == Void {
    /// Runs without data: each iteration processes `()`; `epochLength` is required (or kept from the run being
    /// continued) and GET_BATCH events do not fire.
    @inlinable @discardableResult
    public func run(maxEpochs: Int? = nil, maxIterations: Int? = nil, epochLength: Int? = nil) throws -> State<Void, Output> {
        guard !isRunning else { throw EngineError.reentrantRun }
        isRunning = true
        defer { isRunning = false }
        repositionsOnNextRun = false  // no data to place a loaded run: it continues where it was saved
        try prepare(
            maxEpochs: maxEpochs, maxIterations: maxIterations, epochLength: epochLength,
            dataCount: nil, fetches: false)
        var source: RunSource<NoDataSource>
        if let suspension, let suspended = suspension.source as? RunSource<NoDataSource> {
            source = suspended
        } else {
            source = RunSource(base: NoDataSource())
        }
        try loop(&source)
        return state
    }
}
