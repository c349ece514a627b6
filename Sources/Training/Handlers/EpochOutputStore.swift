import Cluster
import EngineCore

/// Keeps every output of an epoch (Ignite's `EpochOutputStore`): cleared when an epoch starts, one transformed output
/// per iteration, for a handler at epoch completed (a custom metric, a plot); `gathered` collects every rank's.
public final class EpochOutputStore<Output, Value> {
    /// This rank's values of the current (or last) epoch, in iteration order.
    public private(set) var values: [Value] = []
    private let transform: (Output) -> Value

    /// A store of `transform(output)` for each iteration.
    public init(_ transform: @escaping (Output) -> Value) { self.transform = transform }

    /// Clears at each epoch started and appends at each iteration completed of `engine`.
    public func attach<Batch>(to engine: Engine<Batch, Output>) throws {
        try engine.on(.epochStarted) { [self] _ in values.removeAll(keepingCapacity: true) }
        try engine.on(.iterationCompleted) { [self] engine in
            if let output = engine.state.output { values.append(transform(output)) }
        }
    }

    /// Clears the store.
    public func reset() { values.removeAll() }
}

extension EpochOutputStore where Value: Codable {
    /// Every rank's values, rank 0's first (a collective: every rank calls it at the same point).
    public func gathered(over communicator: any Communicator) throws -> [Value] {
        try communicator.allGather(values).flatMap { $0 }
    }
}
