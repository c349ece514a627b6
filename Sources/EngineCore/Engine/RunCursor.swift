/// The steps of a run, in the order the loop takes them. Each fires at most one event; requests made by handlers
/// (terminate, interrupt, ...) are honoured between steps.
@usableFromInline enum RunStep: UInt8, Sendable {
    /// No run to continue: the next `run` starts one (or continues a completed or loaded one from the state).
    case idle
    /// Fire `.started`.
    case started
    /// Test the limits; start the next epoch (fire `.epochStarted`) or complete the run.
    case beginEpoch
    /// Position the data for the epoch (no event).
    case placeData
    /// Fire `.getBatchStarted`.
    case getBatch
    /// Take the next batch (fire `.getBatchCompleted`), or meet the end of the data (fire `.dataLoaderStopIteration`).
    case takeBatch
    /// Count the iteration and fire `.iterationStarted`.
    case beginIteration
    /// Run the process function and fire `.iterationCompleted`.
    case process
    /// End the epoch, stop at the iteration limit, or fetch again (no event).
    case endIteration
    /// Start the data's next pass after it ran out within an epoch (no event).
    case restartPass
    /// Fire `.epochCompleted` (unless a terminated epoch skips it).
    case endEpoch
    /// Fire `.completed` (unless a termination skips it) and end the run.
    case complete
}

/// Where a run is: its next step and its epoch's progress. It is the engine's whole place in a run; after
/// `interrupt()` it is kept (with the data's pass) and the next `run` continues from it.
@usableFromInline struct RunCursor: Sendable {
    /// What the loop does next.
    @usableFromInline var next: RunStep = .idle
    /// Iterations done in the current epoch.
    @usableFromInline var epochIteration = 0
    /// Whether the data ran out once in this epoch (running out again ends the epoch: the data cannot give more).
    @usableFromInline var passEnded = false
    /// Whether the next epoch starts a fresh pass at its own position (after a terminated run or epoch).
    @usableFromInline var alignsPass = false
    /// Whether the current epoch fires `.epochCompleted` (false after `terminateEpoch(skipEpochCompleted: true)`).
    @usableFromInline var firesEpochCompleted = true
    /// Whether the run fires `.completed` (false after `terminate(skipCompleted: true)`).
    @usableFromInline var firesCompleted = true
    /// Whether the run ends because a handler terminated it (not by its limits): the next run goes on from the next epoch.
    @usableFromInline var isTerminated = false
    /// Whether an interrupted run waits here with its data's pass kept.
    @usableFromInline var isSuspended = false
    /// When the run and the epoch started (uptime nanoseconds), for `state.times`.
    @usableFromInline var runStart: UInt64 = 0
    @usableFromInline var epochStart: UInt64 = 0

    @inlinable init() {}

    /// The cursor of a run that starts (or continues from the state) with `.started`.
    @inlinable static func starting(alignsPass: Bool) -> RunCursor {
        var cursor = RunCursor()
        cursor.next = .started
        cursor.alignsPass = alignsPass
        return cursor
    }

    /// Whether the loop is inside an iteration: between `.iterationStarted` and the end of the process function.
    @inlinable var isInsideIteration: Bool { next == .process }
}

/// What handlers asked of the running loop, honoured after the step they were made in.
@usableFromInline struct RunRequests: OptionSet, Sendable {
    @usableFromInline let rawValue: UInt8
    @inlinable init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `terminate()`: fire `.terminate`, then complete the run.
    @usableFromInline static let terminate = RunRequests(rawValue: 1 << 0)
    /// `terminateEpoch()`: fire `.terminateSingleEpoch`, then end the epoch.
    @usableFromInline static let terminateEpoch = RunRequests(rawValue: 1 << 1)
    /// `interrupt()`: fire `.interrupt`, then stop where the run is, to continue on the next `run`.
    @usableFromInline static let interrupt = RunRequests(rawValue: 1 << 2)
    /// With `.terminate`: the run does not fire `.completed`.
    @usableFromInline static let skipCompleted = RunRequests(rawValue: 1 << 3)
    /// With `.terminateEpoch`: the epoch does not fire `.epochCompleted`.
    @usableFromInline static let skipEpochCompleted = RunRequests(rawValue: 1 << 4)
}
