/// A value in a state dict: JSON-like scalars and containers, plus float tensors.
///
/// Every object that a checkpoint saves (engine, model, optimizer, scheduler, sampler, generator) describes
/// itself as a `StateDict`. Tensors stay typed so that a checkpoint can store them as raw little-endian data
/// (safetensors) while everything else becomes JSON.
public enum StateValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([StateValue])
    case dictionary([String: StateValue])
    /// A row-major Float32 tensor; `values.count` equals the product of `shape`.
    case tensor(shape: [Int], values: [Float])
}

/// The saved state of one object, keyed by name.
public typealias StateDict = [String: StateValue]

/// An object whose state can be saved to a checkpoint and restored from it exactly.
public protocol Stateful: AnyObject {
    /// The object's complete state: loading it into a fresh object makes the two indistinguishable.
    func stateDict() -> StateDict
    /// Restores a state produced by `stateDict()`; throws `StateDictError` naming the first problem.
    func loadStateDict(_ state: StateDict) throws
}

/// What is wrong with a state dict given to `loadStateDict(_:)`.
public enum StateDictError: Error, Equatable, CustomStringConvertible {
    case missingKey(String)
    case wrongType(key: String, expected: String)
    case invalidValue(key: String, reason: String)
    case unexpectedKey(String)
    case shapeMismatch(key: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .missingKey(let key): "state dict is missing required key '\(key)'"
        case .wrongType(let key, let expected): "state dict key '\(key)' should be \(expected)"
        case .invalidValue(let key, let reason): "state dict key '\(key)' is invalid: \(reason)"
        case .unexpectedKey(let key): "state dict has unexpected key '\(key)'"
        case .shapeMismatch(let key, let expected, let found):
            "state dict tensor '\(key)' has shape \(found), expected \(expected)"
        }
    }
}
