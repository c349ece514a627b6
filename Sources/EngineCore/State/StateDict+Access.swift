/// Typed, throwing reads of a state dict, so that `loadStateDict(_:)` implementations name the bad key.
extension Dictionary where Key == String, Value == StateValue {
    /// The value under `key`, or `StateDictError.missingKey`.
    public func required(_ key: String) throws -> StateValue {
        guard let value = self[key] else { throw StateDictError.missingKey(key) }
        return value
    }

    /// The integer under `key`.
    public func int(_ key: String) throws -> Int {
        guard case .int(let value) = try required(key) else {
            throw StateDictError.wrongType(key: key, expected: "an integer")
        }
        return value
    }

    /// The integer under `key`, or nil when the key is absent or null.
    public func optionalInt(_ key: String) throws -> Int? {
        guard let value = self[key], value != .null else { return nil }
        return try int(key)
    }

    /// The number under `key` (an integer is accepted and widened).
    public func double(_ key: String) throws -> Double {
        switch try required(key) {
        case .double(let value): return value
        case .int(let value): return Double(value)
        default: throw StateDictError.wrongType(key: key, expected: "a number")
        }
    }

    /// The Boolean under `key`.
    public func bool(_ key: String) throws -> Bool {
        guard case .bool(let value) = try required(key) else {
            throw StateDictError.wrongType(key: key, expected: "a Boolean")
        }
        return value
    }

    /// The string under `key`.
    public func string(_ key: String) throws -> String {
        guard case .string(let value) = try required(key) else {
            throw StateDictError.wrongType(key: key, expected: "a string")
        }
        return value
    }

    /// The array under `key`.
    public func array(_ key: String) throws -> [StateValue] {
        guard case .array(let value) = try required(key) else {
            throw StateDictError.wrongType(key: key, expected: "an array")
        }
        return value
    }

    /// The nested state dict under `key`.
    public func dictionary(_ key: String) throws -> StateDict {
        guard case .dictionary(let value) = try required(key) else {
            throw StateDictError.wrongType(key: key, expected: "a dictionary")
        }
        return value
    }

    /// The tensor under `key`, checked against `shape` when one is given.
    public func tensor(_ key: String, shape expected: [Int]? = nil) throws -> (shape: [Int], values: [Float]) {
        guard case .tensor(let shape, let values) = try required(key) else {
            throw StateDictError.wrongType(key: key, expected: "a tensor")
        }
        if let expected, expected != shape {
            throw StateDictError.shapeMismatch(key: key, expected: expected, found: shape)
        }
        return (shape, values)
    }
}

extension Dictionary where Key == String, Value == StateValue {
    /// The 64-bit unsigned integer under `key`, stored as an `.int` with the same bit pattern (JSON has no UInt64).
    public func uint64(_ key: String) throws -> UInt64 {
        UInt64(bitPattern: Int64(try int(key)))
    }
}

extension StateValue {
    /// Stores a 64-bit unsigned integer (a seed, a generator counter) losslessly as an `.int` bit pattern.
    public static func uint64(_ value: UInt64) -> StateValue { .int(Int(Int64(bitPattern: value))) }
}
