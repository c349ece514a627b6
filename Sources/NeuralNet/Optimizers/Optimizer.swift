/// Updates an arena's parameters from its gradients; state can be saved and restored exactly.
public protocol Optimizer: AnyObject {
    /// The step size; schedulers change it between steps.
    var learningRate: Double { get set }
    /// Applies one update from the current gradients.
    func step()
    /// The optimizer's tensors (momentum buffers, moments), for checkpoints.
    func stateTensors() -> [(name: String, shape: [Int], values: [Float])]
    /// The optimizer's scalars (step count), for checkpoints.
    func stateScalars() -> [String: Double]
    /// Restores state saved by `stateTensors()` and `stateScalars()`.
    /// - Throws: `ParameterError` naming a missing or mis-sized tensor.
    func loadState(tensors: [(name: String, shape: [Int], values: [Float])], scalars: [String: Double]) throws
}

/// One optimizer state buffer the size of the arena.
final class StateBuffer {
    let name: String
    let values: UnsafeMutableBufferPointer<Float>

    init(name: String, count: Int) {
        self.name = name
        values = .allocate(capacity: max(1, count))
        values.initialize(repeating: 0)
    }

    deinit { values.deallocate() }

    var tensor: (name: String, shape: [Int], values: [Float]) { (name, [values.count], Array(values)) }

    func load(from tensors: [(name: String, shape: [Int], values: [Float])]) throws {
        guard let tensor = tensors.first(where: { $0.name == name }) else { throw ParameterError.missing(name: name) }
        guard tensor.values.count == values.count else {
            throw ParameterError.sizeMismatch(name: name, expected: values.count, found: tensor.values.count)
        }
        _ = values.update(fromContentsOf: tensor.values)
    }
}

func requiredScalar(_ scalars: [String: Double], _ name: String) throws -> Double {
    guard let value = scalars[name] else { throw ParameterError.missing(name: name) }
    return value
}

/// A saved count (an optimizer's steps): a whole number from 0 to 2^53, so a corrupted or crafted state (NaN,
/// infinity, 1e300, -1) is an error naming it instead of a trap when it is converted.
func requiredCount(_ scalars: [String: Double], _ name: String) throws -> Int {
    let value = try requiredScalar(scalars, name)
    guard value.isFinite, value >= 0, value <= 9_007_199_254_740_992, value.rounded() == value else {
        throw ParameterError.invalidState(name: name, reason: "\(value) is not a count from 0 to 2^53")
    }
    return Int(value)
}

/// An optimizer value a parameter scheduler can set between steps (Ignite's `param_name`).
public enum OptimizerHyperparameter: String, Sendable, CaseIterable {
    case learningRate = "lr"
    case momentum
    case weightDecay = "weight_decay"
    /// Adam's first-moment decay (its momentum).
    case beta1
    /// Adam's second-moment decay.
    case beta2
}

/// An optimizer whose values besides the learning rate can be scheduled.
public protocol HyperparameterControlled: AnyObject {
    /// The current value, or nil when this optimizer has no such value.
    func hyperparameter(_ name: OptimizerHyperparameter) -> Double?
    /// Sets a value this optimizer has (`hyperparameter(name) != nil`).
    func setHyperparameter(_ name: OptimizerHyperparameter, to value: Double)
}

extension SGD: HyperparameterControlled {
    /// The optimizer's current value of `name`, nil when it has none.
    public func hyperparameter(_ name: OptimizerHyperparameter) -> Double? {
        switch name {
        case .learningRate: learningRate
        case .momentum: Double(momentum)
        case .weightDecay: Double(weightDecay)
        case .beta1, .beta2: nil
        }
    }

    /// Sets the optimizer's `name` (a scheduler's target) to `value`.
    public func setHyperparameter(_ name: OptimizerHyperparameter, to value: Double) {
        switch name {
        case .learningRate: learningRate = value
        case .momentum: momentum = Float(value)
        case .weightDecay: weightDecay = Float(value)
        case .beta1, .beta2: preconditionFailure("SGD has no \(name.rawValue)")
        }
    }
}

extension Adam: HyperparameterControlled {
    /// The optimizer's current value of `name`, nil when it has none.
    public func hyperparameter(_ name: OptimizerHyperparameter) -> Double? {
        switch name {
        case .learningRate: learningRate
        case .momentum, .beta1: beta1
        case .beta2: beta2
        case .weightDecay: weightDecay
        }
    }

    /// Sets the optimizer's `name` (a scheduler's target) to `value`.
    public func setHyperparameter(_ name: OptimizerHyperparameter, to value: Double) {
        switch name {
        case .learningRate: learningRate = value
        case .momentum, .beta1: beta1 = value
        case .beta2: beta2 = value
        case .weightDecay: weightDecay = value
        }
    }
}
