import EngineCore
import NeuralNet

/// A model's parameters and buffers as a checkpoint object: one tensor per named parameter ("0.weight", ...) and
/// per buffer (running statistics such as "bn.runningMean"), as PyTorch's `state_dict` holds both.
public final class ModelState: Stateful {
    /// The model saved and restored.
    public let model: any Model

    /// Wraps `model`.
    public init(_ model: any Model) { self.model = model }

    public func stateDict() -> StateDict {
        var dict: StateDict = [:]
        for parameter in model.arena.namedParameters() {
            dict[parameter.name] = .tensor(shape: parameter.shape, values: parameter.values)
        }
        for buffer in model.arena.namedBuffers() {
            dict[buffer.name] = .tensor(shape: buffer.shape, values: buffer.values)
        }
        return dict
    }

    /// Loads every parameter and buffer, refusing the first missing, mis-shaped or non-finite one by name.
    public func loadStateDict(_ state: StateDict) throws {
        let arena = model.arena
        var named: [(name: String, shape: [Int], values: [Float])] = []
        for entry in arena.entries {
            let tensor = try state.tensor(entry.name, shape: entry.shape)
            // A model that is no longer numbers would evaluate to plausible-looking garbage (ReLU turned NaN into 0).
            guard tensor.values.allSatisfy(\.isFinite) else {
                throw StateDictError.invalidValue(key: entry.name, reason: "holds NaN or infinite values: the run that saved it had diverged")
            }
            named.append((entry.name, tensor.shape, tensor.values))
        }
        var buffers: [(name: String, values: Tensor)] = []
        for entry in arena.bufferEntries {
            let tensor = try state.tensor(entry.name, shape: entry.shape)
            buffers.append((entry.name, Tensor(shape: tensor.shape, values: tensor.values)))
        }
        let known = Set(arena.entries.map(\.name) + arena.bufferEntries.map(\.name))
        if let extra = state.keys.sorted().first(where: { !known.contains($0) }) {
            throw StateDictError.unexpectedKey(extra)
        }
        try arena.load(named: named)
        for buffer in buffers { try arena.setBuffer(named: buffer.name, to: buffer.values) }
    }
}

/// An optimizer's state (moments, step counts, learning rate) as a checkpoint object.
public final class OptimizerState: Stateful {
    /// The optimizer saved and restored.
    public let optimizer: any Optimizer

    /// Wraps `optimizer`.
    public init(_ optimizer: any Optimizer) { self.optimizer = optimizer }

    public func stateDict() -> StateDict {
        var tensors: StateDict = [:]
        for tensor in optimizer.stateTensors() { tensors[tensor.name] = .tensor(shape: tensor.shape, values: tensor.values) }
        var scalars: StateDict = [:]
        for (name, value) in optimizer.stateScalars() { scalars[name] = .double(value) }
        return [
            "tensors": .dictionary(tensors), "scalars": .dictionary(scalars),
            "learning_rate": .double(optimizer.learningRate)
        ]
    }

    public func loadStateDict(_ state: StateDict) throws {
        let tensorDict = try state.dictionary("tensors")
        let scalarDict = try state.dictionary("scalars")
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for name in tensorDict.keys.sorted() {
            let tensor = try tensorDict.tensor(name)
            tensors.append((name, tensor.shape, tensor.values))
        }
        var scalars: [String: Double] = [:]
        for name in scalarDict.keys { scalars[name] = try scalarDict.double(name) }
        try optimizer.loadState(tensors: tensors, scalars: scalars)
        optimizer.learningRate = try state.double("learning_rate")
    }
}
