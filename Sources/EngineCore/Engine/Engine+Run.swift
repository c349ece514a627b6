import Dispatch

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
        // After interrupt() the run continues its own pass, whatever data it is given now (as Ignite's does).
        if let kept = suspendedSource {
            suspendedSource = nil
            var source = RunSource(base: kept)
            try loop(&source)
        } else {
            var source = RunSource(base: fresh)
            try loop(&source)
        }
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
        // A new run unless one waits to be continued: interrupted, terminated, or loaded / completed with a larger limit.
        let isNewRun = (state.maxEpochs == nil && state.maxIterations == nil) || (isDone && cursor.next == .idle && !cursor.isTerminated)
        if isNewRun {
            let length = epochLength ?? dataCount ?? state.epochLength
            if let length, length < 1 { throw EngineError.emptyData }
            if !fetches && length == nil { throw EngineError.missingEpochLength }
            state.iteration = 0
            state.epoch = 0
            state.maxIterations = maxIterations
            state.maxEpochs = maxIterations == nil ? (maxEpochs ?? 1) : nil
            state.epochLength = length
            cursor = .starting(alignsPass: false)
            suspendedSource = nil
            pendingData = nil
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
            if cursor.isTerminated {
                // The terminated epoch is over: the next one is full, counting iterations on.
                cursor = .starting(alignsPass: true)
            } else if !cursor.isSuspended {
                // Continuing from the state (a loaded state dict, or a completed run given more): redo the saved
                // epoch from its saved iteration.
                cursor = .starting(alignsPass: false)
                if let length = state.epochLength {
                    state.epoch = state.iteration / length
                    resumingWithinEpoch = state.iteration % length != 0
                }
            }
        }
    }

    /// The loop of a run: takes the cursor's steps until the run completes, or an interrupt stops it with the
    /// cursor kept for the next `run`.
    @inlinable func loop<Base: BatchSource>(_ source: inout RunSource<Base>) throws where Base.Batch == Batch {
        requests = []
        state.error = nil
        if cursor.isSuspended {
            cursor.isSuspended = false
        } else {
            source.reset()
            lastEventID = -1
            state.times[.epochCompleted] = 0
            state.times[.completed] = 0
            cursor.runStart = DispatchTime.now().uptimeNanoseconds
            cursor.epochStart = cursor.runStart
        }
        let fetches = source.fetchesBatches
        do {
            steps: while true {
                switch cursor.next {
                case .idle:
                    preconditionFailure("the run loop met an idle cursor")
                case .started:
                    cursor.next = .beginEpoch
                    try fire(Event.ID.started)
                    guard requests.isEmpty else { break }
                    fallthrough
                case .beginEpoch:
                    guard !isDone else {
                        cursor.next = .complete
                        continue steps
                    }
                    state.epoch += 1
                    cursor.epochStart = DispatchTime.now().uptimeNanoseconds
                    cursor.next = .placeData
                    try fire(Event.ID.epochStarted)
                    guard requests.isEmpty else { break }
                    fallthrough
                case .placeData:
                    resumingWithinEpoch = false
                    cursor.epochIteration = 0
                    cursor.passEnded = false
                    if cursor.alignsPass {
                        source.start(after: alignedPosition(epochIteration: 0))
                        cursor.alignsPass = false
                    } else if !source.isStarted {
                        source.start(after: state.iteration)
                        if let length = state.epochLength { cursor.epochIteration = state.iteration % length }
                    }
                    cursor.next = .getBatch
                    fallthrough
                case .getBatch, .takeBatch, .beginIteration, .process, .endIteration:
                    // The epoch's iterations: their steps in order, again and again without going back to the dispatch
                    // while no request stops them and the epoch goes on (B1).
                    var step = cursor.next
                    iterations: while true {
                        if step == .getBatch {
                            state.batch = nil
                            // Ignite fires no GET_BATCH_STARTED again right after the data ran out.
                            if fetches && lastEventID != Event.ID.dataLoaderStopIteration {
                                try fireIterationEvent(Event.ID.getBatchStarted)
                                // (Steps no handler can observe set the cursor only when the loop stops after them.)
                                guard requests.isEmpty else {
                                    cursor.next = .takeBatch
                                    break iterations
                                }
                            }
                            step = .takeBatch
                        }
                        if step == .takeBatch {
                            if let replacement = pendingData { install(replacement, into: &source) }
                            guard let batch = source.next() else {
                                cursor.next = .takeBatch
                                try endOfData(fetches: fetches)
                                if cursor.next != .restartPass || !fetches { continue steps }
                                break iterations
                            }
                            state.batch = batch
                            state.output = nil
                            if fetches {
                                try fireIterationEvent(Event.ID.getBatchCompleted)
                                guard requests.isEmpty else {
                                    cursor.next = .beginIteration
                                    break iterations
                                }
                            }
                            step = .beginIteration
                        }
                        if step == .beginIteration {
                            cursor.epochIteration += 1
                            if cursor.passEnded { cursor.passEnded = false }
                            state.iteration += 1
                            cursor.next = .process
                            try fireIterationEvent(Event.ID.iterationStarted)
                            guard requests.isEmpty else { break iterations }
                            step = .process
                        }
                        if step == .process {
                            guard let current = state.batch else { throw EngineError.batchRemoved }
                            let output = try process(self, current)
                            state.output = output
                            cursor.next = .endIteration
                            try fireIterationEvent(Event.ID.iterationCompleted)
                            guard requests.isEmpty else { break iterations }
                        }
                        // The iteration's end: the epoch ends, the iteration limit stops the run, or the next one begins.
                        if let length = state.epochLength, cursor.epochIteration == length {
                            cursor.next = .endEpoch
                            continue steps
                        }
                        if let maxIterations = state.maxIterations, state.iteration == maxIterations {
                            // The iteration limit ends the run as Ignite's does: TERMINATE, then COMPLETED.
                            cursor.next = .complete
                            try fire(Event.ID.terminate)
                            requests = []
                            continue steps
                        }
                        cursor.next = .getBatch
                        step = .getBatch
                    }
                case .restartPass:
                    source.start(after: alignedPosition(epochIteration: cursor.epochIteration))
                    cursor.passEnded = true
                    cursor.next = .getBatch
                    continue steps
                case .endEpoch:
                    let fires = cursor.firesEpochCompleted
                    cursor.firesEpochCompleted = true
                    cursor.next = .beginEpoch
                    state.times[.epochCompleted] = seconds(since: cursor.epochStart)
                    if fires {
                        try fire(Event.ID.epochCompleted)
                        state.times[.epochCompleted] = seconds(since: cursor.epochStart)
                    }
                    // The epoch is over: a request to end it (from `.epochCompleted`) has nothing left to end.
                    requests.subtract([.terminateEpoch, .skipEpochCompleted])
                case .complete:
                    let ended = cursor
                    state.times[.completed] = seconds(since: ended.runStart)
                    cursor = RunCursor()
                    cursor.isTerminated = ended.isTerminated
                    if ended.firesCompleted {
                        try fire(Event.ID.completed)
                        state.times[.completed] = seconds(since: ended.runStart)
                    }
                    break steps
                }
                if requests.isEmpty { continue steps }
                if try honourRequests(&source) {
                    // Interrupted: the cursor stays where it is and the pass is kept for the next run.
                    cursor.isSuspended = true
                    // A pass already kept from an earlier interrupt is kept as it is, not wrapped once more.
                    let kept = source.replacement == nil ? source.base as? ErasedSource<Batch> : nil
                    suspendedSource = kept ?? ErasedSource(keeping: source)
                    return
                }
            }
        } catch {
            source.reset()
            defer { cursor = RunCursor() }
            try handle(error)
        }
        source.reset()
    }

    /// The data ran out at `.takeBatch`: the first pass of data of unknown length fixes the epoch length; a pass that
    /// ran out already in this epoch ends it (with a warning if the run is not done); else the data restarts, after
    /// `.dataLoaderStopIteration`.
    @usableFromInline func endOfData(fetches: Bool) throws {
        if state.epochLength == nil {
            state.epochLength = cursor.epochIteration
            if let maxIterations = state.maxIterations {
                state.maxEpochs = (maxIterations + cursor.epochIteration - 1) / Swift.max(cursor.epochIteration, 1)
            }
            cursor.next = .endEpoch
        } else if cursor.passEnded {
            if !isDone {
                warningHandler(
                    "the data cannot provide more batches but the run is not done "
                        + "(iteration \(state.iteration) of \(plannedIterations.map(String.init) ?? "?"))")
            }
            cursor.next = .endEpoch
        } else {
            cursor.next = .restartPass
            if fetches { try fire(Event.ID.dataLoaderStopIteration) }
        }
    }

    /// Honours the requests made during the last step, in Ignite's order: terminate (fires `.terminate`; the run
    /// completes next), terminate the epoch (fires `.terminateSingleEpoch`; the epoch ends next), interrupt (fires
    /// `.interrupt` and returns true: the run stops here).
    @usableFromInline func honourRequests<Base: BatchSource>(_ source: inout RunSource<Base>) throws -> Bool
    where Base.Batch == Batch {
        while true {
            if requests.contains(.terminate) {
                cursor.firesCompleted = !requests.contains(.skipCompleted)
                cursor.next = .complete
                requests = []
                cursor.isTerminated = true
                try fire(Event.ID.terminate)
                requests = []
                return false
            }
            if requests.contains(.terminateEpoch) {
                // Between `.started` and the first epoch, or while `.epochStarted` runs, no epoch is under way to end.
                if cursor.next == .beginEpoch || cursor.next == .placeData {
                    throw EngineError.terminateEpochOutsideEpoch(cursor.next == .beginEpoch ? Event.started.name : Event.epochStarted.name)
                }
                cursor.firesEpochCompleted = !requests.contains(.skipEpochCompleted)
                requests.subtract([.terminateEpoch, .skipEpochCompleted])
                try fire(Event.ID.terminateSingleEpoch)
                requests.remove(.terminateEpoch)
                source.start(after: alignedPosition(epochIteration: cursor.epochIteration))
                cursor.next = .endEpoch
                // What else was asked (terminate, interrupt) is honoured after the epoch ends.
                return false
            }
            guard requests.contains(.interrupt) else {
                requests = []
                return false
            }
            requests.remove(.interrupt)
            try fire(Event.ID.interrupt)
            if requests.contains(.terminate) || requests.contains(.terminateEpoch) { continue }
            requests = []
            return true
        }
    }

    /// The data position of the current epoch's `counter`-th iteration as if every epoch had been full: where
    /// a resumable source restarts, so that each epoch draws its own pass even after a terminated one.
    @inlinable func alignedPosition(epochIteration: Int) -> Int {
        guard let length = state.epochLength else { return state.iteration }
        let (start, overflow) = Swift.max(state.epoch - 1, 0).multipliedReportingOverflow(by: length)
        return overflow ? state.iteration : start + epochIteration
    }

    /// Puts data given to `setData(_:)` in place of the current source, positioned at the current iteration.
    @usableFromInline func install<Base: BatchSource>(
        _ replacement: ErasedSource<Batch>, into source: inout RunSource<Base>
    ) where Base.Batch == Batch {
        pendingData = nil
        replacement.start(after: alignedPosition(epochIteration: cursor.epochIteration))
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
        if let kept = suspendedSource {
            suspendedSource = nil
            var source = RunSource(base: kept)
            try loop(&source)
        } else {
            var source = RunSource(base: NoDataSource())
            try loop(&source)
        }
        return state
    }
}
