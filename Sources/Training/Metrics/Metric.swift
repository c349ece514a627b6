import Cluster
import EngineCore

/// When an attached metric resets, updates and computes.
public enum MetricUsage: Sendable, Equatable {
    /// Reset at epoch started, update at iteration completed, compute at epoch completed (Ignite's default).
    case epochWise
    /// Reset at started, update at iteration completed, compute at completed: one value per run, computed
    /// even when a rank had no batch.
    case runWise
    /// Reset at iteration started, update and compute at iteration completed.
    case batchWise
    /// Reset when a run starts, compute at each epoch's end: the value over every epoch so far (Ignite's
    /// `RunningEpochWise`).
    case runningEpochWise
    /// Reset when a run starts, compute after each iteration: the value over every batch so far (`RunningBatchWise`).
    case runningBatchWise
    /// Reset at each epoch's start, compute after each iteration: the epoch's value so far
    /// (`SingleEpochRunningBatchWise`).
    case singleEpochRunningBatchWise
    /// Epoch-wise over the batches of every `every`-th iteration only (`BatchFiltered(every=)`).
    case batchFiltered(every: Int)

    /// The events a metric resets and computes at.
    var events: (reset: Event, compute: Event) {
        switch self {
        case .epochWise, .batchFiltered: (.epochStarted, .epochCompleted)
        case .runWise: (.started, .completed)
        case .batchWise: (.iterationStarted, .iterationCompleted)
        case .runningEpochWise: (.started, .epochCompleted)
        case .runningBatchWise: (.started, .iterationCompleted)
        case .singleEpochRunningBatchWise: (.epochStarted, .iterationCompleted)
        }
    }

    /// Whether a reset at `engine`'s current event would throw away sums a checkpoint restored: a resumed run keeps
    /// the running sums (reset at started) and the sums of the epoch it resumes within (reset at epoch started).
    func keepsRestoredSums<Batch, Output>(_ engine: Engine<Batch, Output>) -> Bool {
        switch self {
        case .epochWise, .batchFiltered, .singleEpochRunningBatchWise: engine.resumesWithinEpoch
        case .runningEpochWise, .runningBatchWise: engine.state.iteration > 0
        case .runWise, .batchWise: false
        }
    }
}

/// A metric accumulates local sums (counts included) over updates; `compute` reduces the sums across ranks
/// and turns them into a value, keeping the local sums, so a second compute does not double-count and a
/// rank with no batch still contributes its zeros (and takes part in the collective).
public protocol Metric<Input>: Stateful {
    /// What `update` takes (the output transform maps the engine's output to it).
    associatedtype Input
    /// The local sums.
    var sums: [Double] { get set }
    /// The world whose ranks' sums `compute` adds up (the one data parallelism uses); nil for one process.
    var communicator: (any Communicator)? { get set }
    /// Clears the sums.
    func reset()
    /// Adds one batch.
    /// - Throws: `MetricError` when the batch cannot belong to this metric (another class count, a target outside
    ///   the vocabulary): the caller's data, never a trap.
    func update(_ input: Input) throws
    /// The metric's value from global sums.
    func value(from sums: [Double]) throws -> Double
    /// The value over every rank's updates since the last reset (a collective when `communicator` is set). The
    /// default reduces `sums`; a metric that gathers values instead of summing them (ROC AUC) provides its own,
    /// which `attach`, `MetricExpression` and `MetricGroup` then call.
    func compute() throws -> Double
}

/// A metric whose value cannot be computed yet (no sample seen on any rank).
public struct MetricError: Error, Equatable, CustomStringConvertible {
    /// Why the metric cannot be computed.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Refuses `value(from:)` on a metric that gathers values from every rank: summed sums cannot stand for them.
func requireOneProcess(_ communicator: (any Communicator)?, _ name: String) throws {
    if let communicator, communicator.size > 1 {
        throw MetricError("\(name) gathers every rank's values: call compute(), not value(from:), in a world of \(communicator.size) ranks")
    }
}

extension Metric {
    /// `sums[0] / sums[1]`: a total over a count, or an error naming the metric when nothing was counted.
    public func mean(of sums: [Double], _ name: String) throws -> Double {
        guard sums[1] > 0 else { throw MetricError("\(name) must have at least one example before it can be computed") }
        return sums[0] / sums[1]
    }

    /// Sets every sum to zero.
    public func reset() { sums = Array(repeating: 0, count: sums.count) }

    /// The local sums, so that a checkpoint taken mid-epoch resumes a metric (a running average, an epoch's
    /// accuracy so far) exactly: pass the metric to `Checkpoint` with the other objects.
    public func stateDict() -> StateDict { ["sums": .array(sums.map(StateValue.double))] }

    /// Restores sums saved by `stateDict()`.
    /// - Throws: `StateDictError` when they are missing or of another count than this metric keeps.
    public func loadStateDict(_ state: StateDict) throws {
        let values = try state.array("sums").enumerated().map { index, value -> Double in
            switch value {
            case .double(let number): return number
            case .int(let number): return Double(number)
            default: throw StateDictError.wrongType(key: "sums.\(index)", expected: "a number")
            }
        }
        guard values.count == sums.count else {
            throw StateDictError.invalidValue(key: "sums", reason: "\(values.count) values for a metric that keeps \(sums.count)")
        }
        sums = values
    }

    /// The value over every rank's updates since the last reset. A collective when `communicator` is set.
    public func compute() throws -> Double {
        try value(from: try reducedSums())
    }

    /// The sums over every rank, added in a fixed order (the same bits on every run and every rank, whatever
    /// order the messages arrive in). A collective when `communicator` is set.
    public func reducedSums() throws -> [Double] {
        guard let communicator, communicator.size > 1 else { return sums }
        return try communicator.allReduce(sums, .sum)
    }

    /// Resets the sums when `engine` starts a run and updates them each iteration, never computing: for callers that
    /// combine the sums themselves (per virtual shard, in the shards' tree) and then call `value(from:)`.
    public func attachUpdates<Batch, Output>(
        to engine: Engine<Batch, Output>,
        outputTransform: @escaping (Output) -> Input
    ) throws {
        try attachUpdates(to: engine, usage: .runWise, outputTransform: outputTransform)
    }

    /// Resets at `usage`'s reset event and updates at every iteration, each once however often it is attached;
    /// computing is the caller's (a `MetricExpression` computes each of its metrics once).
    public func attachUpdates<Batch, Output>(
        to engine: Engine<Batch, Output>, usage: MetricUsage,
        outputTransform: @escaping (Output) -> Input
    ) throws {
        let resetEvent = usage.events.reset
        var updateEvent = Event.iterationCompleted
        var updateRole = "update"
        if case .batchFiltered(let every) = usage {
            try ArgumentError.require(every >= 1, "MetricUsage.batchFiltered(every:)", every, "at least 1")
            (updateEvent, updateRole) = (.iterationCompleted(every: every), "update every \(every)")
        }
        if registerOnce("reset:\(resetEvent.name)", on: engine) {
            // A resumed run keeps the sums the checkpoint restored (the rest of an epoch, or a running value).
            try engine.on(resetEvent) { [self] engine in if !usage.keepsRestoredSums(engine) { reset() } }
        }
        if registerOnce(updateRole, on: engine) {
            try engine.on(updateEvent) { [self] engine in
                if let output = engine.state.output { try update(outputTransform(output)) }
            }
        }
    }

    /// Whether this metric's `role` handler is not yet on `engine` (then it is recorded as there): attaching a metric
    /// again, under another name, adds only its computation, as Ignite's `attach` checks `has_event_handler`.
    private func registerOnce<Batch, Output>(_ role: String, on engine: Engine<Batch, Output>) -> Bool {
        let registry = engine.state[.attachedMetricHandlers] ?? AttachedMetricHandlers()
        engine.state[.attachedMetricHandlers] = registry
        return registry.keys.insert("\(ObjectIdentifier(self)):\(role)").inserted
    }

    /// Attaches the metric to `engine` under `name`, per `usage`, writing `state.metrics[name]`.
    /// - Parameter outputTransform: maps the engine's output to the metric's input (the seed's
    ///   `output_transform`: pick fields of a tuple, a struct or a dictionary).
    public func attach<Batch, Output>(
        to engine: Engine<Batch, Output>, name: String, usage: MetricUsage = .epochWise,
        outputTransform: @escaping (Output) -> Input
    ) throws {
        try attachUpdates(to: engine, usage: usage, outputTransform: outputTransform)
        try engine.on(usage.events.compute) { [self] engine in engine.state.metrics[name] = try compute() }
    }
}

/// The metric handlers already on an engine (metric and role), so that one metric is reset and updated once per
/// event however many names it is attached under.
public final class AttachedMetricHandlers {
    var keys: Set<String> = []
    init() {}
}

extension StateKey where Value == AttachedMetricHandlers {
    /// Where an engine keeps its `AttachedMetricHandlers`.
    public static var attachedMetricHandlers: StateKey<AttachedMetricHandlers> { StateKey("attached_metric_handlers") }
}
