import EngineCore
import NeuralNet

/// An exponential moving average of a model's parameters (Ignite's `EMAHandler`): after each update
/// `ema = (1 - λ) · ema + λ · θ`, with λ warmed up linearly from `warmupMomentum` over `warmupUpdates` updates.
/// Evaluate with the averaged weights through `withAveragedParameters`; save it in checkpoints (it is `Stateful`).
public final class ExponentialMovingAverage: Stateful {
    /// What happens to the model's buffers (running statistics).
    public enum Buffers: Sendable {
        /// The averaged model uses the online model's buffers (Ignite's "copy", the default).
        case copy
        /// The buffers are averaged like the parameters (Ignite's "update").
        case update
    }

    /// λ after the warm-up.
    public let momentum: Double
    /// λ at the first update, or nil for no warm-up.
    public let warmupMomentum: Double?
    /// Updates over which λ moves from `warmupMomentum` to `momentum`.
    public let warmupUpdates: Int
    /// What happens to the buffers.
    public let buffers: Buffers
    /// Updates made so far (saved, so a resumed run continues the warm-up where it was).
    public private(set) var updates = 0
    private let arena: ParameterArena
    private var averaged: [Float]
    private var averagedBuffers: [Float]

    /// An average of `arena`'s parameters, starting from their current values.
    /// - Throws: `ArgumentError` for a momentum outside (0, 1) or a warm-up of fewer than 1 update.
    public init(
        arena: ParameterArena, momentum: Double = 0.0002, warmupMomentum: Double? = nil, warmupUpdates: Int = 1,
        buffers: Buffers = .copy
    ) throws {
        try ArgumentError.require(momentum > 0 && momentum < 1, "ExponentialMovingAverage(momentum:)", momentum, "in (0, 1)")
        if let warmupMomentum {
            try ArgumentError.require(
                warmupMomentum > 0 && warmupMomentum < 1, "ExponentialMovingAverage(warmupMomentum:)",
                warmupMomentum, "in (0, 1)")
            try ArgumentError.require(warmupUpdates >= 1, "ExponentialMovingAverage(warmupUpdates:)", warmupUpdates, "at least 1")
        }
        self.arena = arena
        self.momentum = momentum
        self.warmupMomentum = warmupMomentum
        self.warmupUpdates = warmupUpdates
        self.buffers = buffers
        averaged = Array(arena.parameters)
        averagedBuffers = Array(arena.buffers)
    }

    /// λ of update number `index` (from 1): Ignite's linear warm-up, clamped at `momentum`.
    public func momentum(atUpdate index: Int) -> Double {
        guard let start = warmupMomentum else { return momentum }
        let current = start + (momentum - start) * Double(index - 1) / Double(Swift.max(1, warmupUpdates - 1))
        return momentum >= start ? Swift.min(momentum, current) : Swift.max(momentum, current)
    }

    /// Starts the average afresh from the current parameters (after loading parameters saved without an average).
    public func restart() {
        updates = 0
        averaged = Array(arena.parameters)
        averagedBuffers = Array(arena.buffers)
    }

    /// Moves the average towards the current parameters; returns the λ used.
    @discardableResult
    public func update() -> Double {
        updates += 1
        let lambda = momentum(atUpdate: updates)
        let (keep, take) = (Float(1 - lambda), Float(lambda))
        for index in averaged.indices { averaged[index] = averaged[index] * keep + arena.parameters[index] * take }
        if buffers == .update {
            for index in averagedBuffers.indices { averagedBuffers[index] = averagedBuffers[index] * keep + arena.buffers[index] * take }
        }
        return lambda
    }

    /// Updates at `event` (every iteration by default) and keeps the current λ in `state[key]`.
    public func attach<Batch, Output>(
        to engine: Engine<Batch, Output>, event: Event = .iterationCompleted,
        key: StateKey<Double> = .emaMomentum
    ) throws {
        try engine.on(event) { [self] engine in engine.state[key] = update() }
    }

    /// The averaged parameters as a copy of the arena's layout (name, shape, values).
    public var averagedParameters: [(name: String, shape: [Int], values: [Float])] {
        arena.entries.map { ($0.name, $0.shape, Array(averaged[$0.range])) }
    }

    /// Runs `body` with the averaged parameters (and, with `.update`, buffers) in the model, then puts the online ones
    /// back, whatever `body` does: evaluate the EMA model with the model's own evaluator.
    public func withAveragedParameters<Result>(_ body: () throws -> Result) rethrows -> Result {
        let online = Array(arena.parameters)
        let onlineBuffers = Array(arena.buffers)
        _ = arena.parameters.update(from: averaged)
        if buffers == .update { _ = arena.buffers.update(from: averagedBuffers) }
        defer {
            _ = arena.parameters.update(from: online)
            if buffers == .update { _ = arena.buffers.update(from: onlineBuffers) }
        }
        return try body()
    }

    public func stateDict() -> StateDict {
        [
            "updates": .int(updates), "parameters": .tensor(shape: [averaged.count], values: averaged),
            "buffers": .tensor(shape: [averagedBuffers.count], values: averagedBuffers)
        ]
    }

    public func loadStateDict(_ state: StateDict) throws {
        let count = try state.int("updates")
        guard count >= 0 else { throw StateDictError.invalidValue(key: "updates", reason: "\(count) is negative") }
        func values(_ key: String, count expected: Int) throws -> [Float] {
            guard case .tensor(_, let values)? = state[key] else { throw StateDictError.wrongType(key: key, expected: "a tensor") }
            guard values.count == expected else {
                throw StateDictError.invalidValue(key: key, reason: "\(values.count) values for a model of \(expected)")
            }
            return values
        }
        let parameters = try values("parameters", count: averaged.count)
        let savedBuffers = try values("buffers", count: averagedBuffers.count)
        (updates, averaged, averagedBuffers) = (count, parameters, savedBuffers)
    }
}

extension StateKey where Value == Double {
    /// The λ of the last `ExponentialMovingAverage` update (Ignite's `engine.state.ema_momentum`).
    public static var emaMomentum: StateKey<Double> { StateKey("ema_momentum") }
}
