import Dispatch

/// Thrown internally to unwind the loop after `terminate()`.
@usableFromInline struct TerminateSignal: Error {
    @inlinable init() {}
}
/// Thrown internally to unwind the epoch after `terminateEpoch()`.
@usableFromInline struct TerminateEpochSignal: Error {
    @inlinable init() {}
}

extension Engine {
    /// Runs the process function over `data` for `maxEpochs` epochs (default 1) or `maxIterations`
    /// iterations, firing events on the way.
    ///
    /// The epoch length defaults to the data's count; one-pass data without a count finds it at its first
    /// exhaustion. The data's iterator persists across epochs and restarts only when exhausted. If the
    /// engine holds an unfinished state (a previous run ended by `terminate()`, or `loadStateDict(_:)`), the
    /// run resumes from it; a finished engine starts a new run.
    /// - Throws: `EngineError` for bad arguments; otherwise what the process function or a handler threw,
    ///   unless an `.exceptionRaised` handler is attached (it then receives the error in `state.error` and
    ///   the run ends without `.completed`).
    @inlinable @discardableResult
    public func run<Data: Sequence>(
        _ data: Data, maxEpochs: Int? = nil, maxIterations: Int? = nil, epochLength: Int? = nil
    ) throws -> State<Batch, Output> where Data.Element == Batch {
        var source = SequenceSource(data: data)
        try prepare(maxEpochs: maxEpochs, maxIterations: maxIterations, epochLength: epochLength,
                    dataCount: epochLength == nil ? source.knownCount : nil, fetches: true)
        try loop(&source)
        return state
    }

    /// Whether the run has reached its epoch or iteration limit.
    @inlinable public var isDone: Bool {
        if let maxIterations = state.maxIterations, state.iteration >= maxIterations { return true }
        guard let maxEpochs = state.maxEpochs else { return false }
        if let length = state.epochLength, state.iteration >= length * maxEpochs { return true }
        return state.epoch >= maxEpochs
    }

    /// Whether the saved progress has reached the run's limits: a later `run` then starts anew. Unlike
    /// `isDone`, a run stopped mid-way through its last epoch has not.
    @usableFromInline var hasReachedLimit: Bool {
        if let maxIterations = state.maxIterations { return state.iteration >= maxIterations }
        if let length = state.epochLength, let maxEpochs = state.maxEpochs { return state.iteration >= length * maxEpochs }
        return isDone
    }

    @usableFromInline func prepare(maxEpochs: Int?, maxIterations: Int?, epochLength: Int?, dataCount: Int?, fetches: Bool) throws {
        if maxEpochs != nil && maxIterations != nil { throw EngineError.conflictingLimits }
        if let maxEpochs, maxEpochs <= 0 { throw EngineError.invalidLimit("maxEpochs must be positive, got \(maxEpochs)") }
        if let maxIterations, maxIterations <= 0 {
            throw EngineError.invalidLimit("maxIterations must be positive, got \(maxIterations)")
        }
        if let epochLength, epochLength <= 0 {
            throw EngineError.invalidLimit("epochLength must be positive, got \(epochLength)")
        }
        let isNewRun = (state.maxEpochs == nil && state.maxIterations == nil) || finishedRun || hasReachedLimit
        if isNewRun {
            state.iteration = 0
            state.epoch = 0
            state.maxIterations = maxIterations
            state.maxEpochs = maxIterations == nil ? (maxEpochs ?? 1) : nil
            state.epochLength = epochLength ?? dataCount
        } else {
            // A run interrupted mid-epoch redoes that epoch from its saved iteration, as after loadStateDict.
            if let length = state.epochLength { state.epoch = state.iteration / length }
            if let maxEpochs {
                guard maxEpochs >= state.epoch else {
                    throw EngineError.resumeMismatch("maxEpochs \(maxEpochs) is less than the current epoch \(state.epoch)")
                }
                state.maxEpochs = maxEpochs
                state.maxIterations = nil
            }
            if let maxIterations {
                guard maxIterations >= state.iteration else {
                    throw EngineError.resumeMismatch(
                        "maxIterations \(maxIterations) is less than the current iteration \(state.iteration)")
                }
                state.maxIterations = maxIterations
                state.maxEpochs = nil
            }
            if let epochLength, let current = state.epochLength, epochLength != current {
                throw EngineError.resumeMismatch("epochLength \(epochLength) differs from the saved \(current)")
            }
            if state.epochLength == nil { state.epochLength = epochLength ?? dataCount }
        }
        if !fetches && state.epochLength == nil { throw EngineError.missingEpochLength }
    }

    @inlinable func loop<Source: BatchSource>(_ source: inout Source) throws where Source.Batch == Batch {
        shouldTerminate = false
        shouldTerminateSingleEpoch = false
        interruptRequested = false
        lastEventID = -1
        finishedRun = false
        state.error = nil
        let runStart = DispatchTime.now().uptimeNanoseconds
        do {
            do {
                try fire(Event.started.id)
                try checkInterruptOutsideEpoch(.started)
                while !isDone && !shouldTerminate {
                    state.epoch += 1
                    let epochStart = DispatchTime.now().uptimeNanoseconds
                    try fire(Event.epochStarted.id)
                    try checkInterruptOutsideEpoch(.epochStarted)
                    var startCount = 0
                    if !source.isStarted {
                        source.start(after: state.iteration)
                        if let length = state.epochLength { startCount = state.iteration % length }
                    }
                    let completeEpoch = try runEpoch(&source, startCount: startCount)
                    state.times[.epochCompleted] = seconds(since: epochStart)
                    if completeEpoch {
                        try fire(Event.epochCompleted.id)
                        shouldTerminateSingleEpoch = false
                        if shouldTerminate { throw TerminateSignal() }
                        interruptRequested = false
                    }
                }
            } catch is TerminateSignal {
                try fire(Event.terminate.id)
            }
            state.times[.completed] = seconds(since: runStart)
            finishedRun = !shouldTerminate
            if !(shouldTerminate && skipCompletedAfterTermination) { try fire(Event.completed.id) }
        } catch {
            source.reset()
            try handle(error)
        }
        source.reset()
    }

    /// Runs iterations until the epoch ends; returns whether `.epochCompleted` should fire.
    @inlinable func runEpoch<Source: BatchSource>(_ source: inout Source, startCount: Int) throws -> Bool
    where Source.Batch == Batch {
        var counter = startCount
        var exhaustedOnce = false
        do {
            while true {
                state.batch = nil
                state.output = nil
                if Source.fetchesBatches && lastEventID != Event.dataLoaderStopIteration.id {
                    try fire(Event.getBatchStarted.id)
                    if interruptRequested { try raiseInterrupt() }
                }
                guard let batch = source.next() else {
                    if state.epochLength == nil {
                        state.epochLength = counter
                        if let maxIterations = state.maxIterations {
                            state.maxEpochs = (maxIterations + counter - 1) / max(counter, 1)
                        }
                        break
                    }
                    if exhaustedOnce {
                        if !isDone {
                            warningHandler("the data cannot provide more batches but the run is not done "
                                + "(iteration \(state.iteration) of \(plannedIterations.map(String.init) ?? "?"))")
                        }
                        break
                    }
                    try fire(Event.dataLoaderStopIteration.id)
                    if interruptRequested { try raiseInterrupt() }
                    source.start(after: state.iteration)
                    exhaustedOnce = true
                    continue
                }
                state.batch = batch
                if Source.fetchesBatches {
                    try fire(Event.getBatchCompleted.id)
                    if interruptRequested { try raiseInterrupt() }
                }
                counter += 1
                exhaustedOnce = false
                state.iteration += 1
                try fire(Event.iterationStarted.id)
                if interruptRequested { try raiseInterrupt() }
                guard let current = state.batch else {
                    preconditionFailure("a handler set state.batch to nil before the process function ran")
                }
                state.output = try process(self, current)
                try fire(Event.iterationCompleted.id)
                if interruptRequested { try raiseInterrupt() }
                if let length = state.epochLength, counter == length { break }
                if let maxIterations = state.maxIterations, state.iteration == maxIterations {
                    shouldTerminate = true
                    interruptRequested = true
                    throw TerminateSignal()
                }
            }
        } catch is TerminateEpochSignal {
            try fire(Event.terminateSingleEpoch.id)
            shouldTerminateSingleEpoch = false
            interruptRequested = shouldTerminate
            source.start(after: state.iteration)
            return !skipEpochCompletedAfterTermination
        }
        return true
    }

    @usableFromInline var plannedIterations: Int? {
        if let maxIterations = state.maxIterations { return maxIterations }
        guard let length = state.epochLength, let epochs = state.maxEpochs else { return nil }
        return length * epochs
    }

    @usableFromInline func raiseInterrupt() throws {
        if shouldTerminate { throw TerminateSignal() }
        if shouldTerminateSingleEpoch { throw TerminateEpochSignal() }
    }

    @usableFromInline func checkInterruptOutsideEpoch(_ event: Event) throws {
        guard interruptRequested else { return }
        if shouldTerminateSingleEpoch { throw EngineError.terminateEpochOutsideEpoch(event.name) }
        if shouldTerminate { throw TerminateSignal() }
    }

    @usableFromInline func handle(_ error: any Error) throws {
        state.error = error
        guard hasEventHandler(for: .exceptionRaised) else { throw error }
        try fire(Event.exceptionRaised.id)
    }

    @usableFromInline func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

extension Engine where Batch == Void {
    /// Runs without data: each iteration processes `()`; `epochLength` is required and GET_BATCH events
    /// do not fire.
    @inlinable @discardableResult
    public func run(maxEpochs: Int? = nil, maxIterations: Int? = nil, epochLength: Int) throws -> State<Void, Output> {
        var source = NoDataSource()
        try prepare(maxEpochs: maxEpochs, maxIterations: maxIterations, epochLength: epochLength,
                    dataCount: nil, fetches: false)
        try loop(&source)
        return state
    }
}
