import EngineCore
import Foundation

/// Terminates the run at the first output holding a non-finite number (NaN or infinity).
public final class TerminateOnNan {
    private let values: (Any) -> [Double]
    /// The iteration at which it stopped the run, if it did.
    public private(set) var stoppedAt: Int?

    /// A guard reading numbers from the output with `outputTransform`.
    public init<Output>(outputTransform: @escaping (Output) -> [Double]) {
        values = { output in (output as? Output).map(outputTransform) ?? [] }
    }

    /// Attaches to iteration completed of `engine`.
    public func attach<Batch, Output>(to engine: Engine<Batch, Output>) throws {
        try engine.on(.iterationCompleted) { [self] engine in
            guard let output = engine.state.output, values(output).contains(where: { !$0.isFinite }) else { return }
            stoppedAt = engine.state.iteration
            FileHandle.standardError.write(Data("swift-train: warning: non-finite output at iteration \(engine.state.iteration); stopping\n".utf8))
            engine.terminate()
        }
    }
}

/// Terminates the run once it has lasted `seconds` (checked after each iteration).
public final class TimeLimit {
    /// The limit.
    public let seconds: Double
    private var start = DispatchTime.now().uptimeNanoseconds
    private let clock: () -> Double

    /// A limit of `seconds`; `clock` (seconds) can be replaced in tests.
    /// - Throws: `ArgumentError` for a limit that is not a positive number (Ignite: "limit_sec should be positive").
    public init(seconds: Double, clock: (() -> Double)? = nil) throws {
        try ArgumentError.require(seconds > 0 && seconds.isFinite, "TimeLimit(seconds:)", seconds, "a positive number")
        self.seconds = seconds
        self.clock = clock ?? { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    }

    /// Attaches to `engine`: starts the clock at started, checks at iteration completed.
    public func attach(to engine: any AnyEngine) throws {
        var started = 0.0
        try engine.addEventHandler(.started, erased: { [self] _ in started = clock() })
        try engine.addEventHandler(
            .iterationCompleted,
            erased: { [self] engine in
                if clock() - started > seconds { engine.terminate() }
            })
    }
}

/// The average time of an event span, as Ignite's Timer: started at `start`, paused at `pause`, resumed at
/// `resume`, and a step counted at `step`; `value` is the total time over the steps (or the total).
public final class Timer: Stateful {
    private let clock: () -> Double
    private let average: Bool
    private var total = 0.0, steps = 0, runningSince: Double?

    /// A timer of the total time, or (`average`) of the time per step, as Ignite's `Timer(average=False)` default.
    /// `clock` (seconds) can be replaced in tests.
    public init(average: Bool = false, clock: (() -> Double)? = nil) {
        self.average = average
        self.clock = clock ?? { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    }

    /// The total time, or with `average` the time per step (the total before any step, as Ignite divides by at
    /// least one).
    public var value: Double {
        let current = total + (runningSince.map { clock() - $0 } ?? 0)
        return average ? current / Double(Swift.max(steps, 1)) : current
    }

    /// Resets and starts the timer.
    public func reset() {
        total = 0
        steps = 0
        runningSince = clock()
    }
    /// Stops accumulating time.
    public func pause() {
        if let since = runningSince {
            total += clock() - since
            runningSince = nil
        }
    }
    /// Accumulates time again.
    public func resume() { if runningSince == nil { runningSince = clock() } }
    /// Counts one step.
    public func step() { steps += 1 }

    /// The time so far, the steps and whether it runs: a resumed run's timer goes on from the saved time.
    public func stateDict() -> StateDict {
        let current = total + (runningSince.map { clock() - $0 } ?? 0)
        return ["total": .double(current), "steps": .int(steps), "running": .bool(runningSince != nil)]
    }

    /// Restores what `stateDict()` saved; a timer that was running runs on from now.
    /// - Throws: `StateDictError` for a missing or negative value.
    public func loadStateDict(_ state: StateDict) throws {
        let (savedTotal, savedSteps, running) = (try state.double("total"), try state.int("steps"), try state.bool("running"))
        guard savedTotal >= 0, savedSteps >= 0 else {
            throw StateDictError.invalidValue(key: "total", reason: "a timer's time and steps are not negative")
        }
        (total, steps, runningSince) = (savedTotal, savedSteps, running ? clock() : nil)
    }

    /// Attaches: reset at `start`, resume at `resume`, pause at `pause`, step at `step` (each optional).
    public func attach(
        to engine: any AnyEngine, start: Event = .started, resume: Event? = nil, pause: Event? = nil,
        step: Event? = nil
    ) throws {
        try engine.addEventHandler(start, erased: { [self] _ in reset() })
        if let resume { try engine.addEventHandler(resume, erased: { [self] _ in self.resume() }) }
        if let pause { try engine.addEventHandler(pause, erased: { [self] _ in self.pause() }) }
        if let step { try engine.addEventHandler(step, erased: { [self] _ in self.step() }) }
    }
}
