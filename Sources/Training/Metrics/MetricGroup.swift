import EngineCore

/// Several metrics over the same input, updated, computed and saved together (Ignite's `MetricGroup`): attached
/// once, each lands in `state.metrics` under its own name.
public final class MetricGroup<Input>: Stateful {
    /// The metrics, by name, in the order given.
    public let metrics: [(name: String, metric: any Metric<Input>)]

    /// A group of named metrics.
    /// - Throws: `ArgumentError` for an empty group or a name given twice.
    public init(_ metrics: KeyValuePairs<String, any Metric<Input>>) throws {
        try ArgumentError.require(!metrics.isEmpty, "MetricGroup(_:)", "[:]", "at least one metric")
        let names = metrics.map(\.key)
        try ArgumentError.require(Set(names).count == names.count, "MetricGroup(_:)", names, "distinct names")
        self.metrics = metrics.map { ($0.key, $0.value) }
    }

    /// Clears every metric.
    public func reset() { for entry in metrics { entry.metric.reset() } }

    /// Adds one batch to every metric.
    public func update(_ input: Input) throws { for entry in metrics { try entry.metric.update(input) } }

    /// Every metric's value over every rank, by name (each a collective when the metric has a communicator).
    public func compute() throws -> [String: Double] {
        var values: [String: Double] = [:]
        for entry in metrics { values[entry.name] = try entry.metric.compute() }
        return values
    }

    /// Attaches every metric under its name, with one output transform.
    public func attach<Batch, Output>(
        to engine: Engine<Batch, Output>, usage: MetricUsage = .epochWise,
        outputTransform: @escaping (Output) -> Input
    ) throws {
        for entry in metrics { try entry.metric.attach(to: engine, name: entry.name, usage: usage, outputTransform: outputTransform) }
    }

    /// Each metric's state under its name.
    public func stateDict() -> StateDict {
        var state: StateDict = [:]
        for entry in metrics { state[entry.name] = .dictionary(entry.metric.stateDict()) }
        return state
    }

    /// Restores what `stateDict()` saved.
    public func loadStateDict(_ state: StateDict) throws {
        for entry in metrics {
            guard case .dictionary(let saved)? = state[entry.name] else { throw StateDictError.missingKey(entry.name) }
            try entry.metric.loadStateDict(saved)
        }
    }
}
