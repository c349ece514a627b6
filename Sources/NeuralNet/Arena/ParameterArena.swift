/// One named parameter tensor's place in the arena.
public struct ParameterEntry: Sendable, Equatable {
    /// Stable dotted name such as "0.weight", as checkpoints store it.
    public let name: String
    /// Shape, row-major (a Linear weight is [outputs, inputs] as in PyTorch).
    public let shape: [Int]
    /// First index in the arena.
    public let offset: Int
    /// Number of values.
    public var count: Int { shape.reduce(1, *) }
    /// The entry's index range in the arena.
    public var range: Range<Int> { offset..<(offset + count) }
}

/// What is wrong with parameters given to a model.
public enum ParameterError: Error, Equatable, CustomStringConvertible {
    case missing(name: String)
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    case unexpected(name: String)
    case sizeMismatch(name: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .missing(let name): "parameter '\(name)' is missing"
        case .shapeMismatch(let name, let expected, let found):
            "parameter '\(name)' has shape \(found), the model needs \(expected)"
        case .unexpected(let name): "parameter '\(name)' does not exist in the model"
        case .sizeMismatch(let name, let expected, let found):
            "'\(name)' holds \(found) values, expected \(expected)"
        }
    }
}

/// All parameters of a model in one contiguous buffer, and all gradients in a second one of the same
/// layout; layers hold views into both.
///
/// Zeroing, all-reducing or saving the gradients is then one operation on one buffer, and the arena
/// splits into contiguous buckets in reverse layer order for overlapping communication with backward.
public final class ParameterArena {
    /// Values in each buffer.
    public let count: Int
    /// The parameters, in layer order.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// The gradients, same layout as `parameters`.
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// The named tensors, in layer order.
    public let entries: [ParameterEntry]

    /// An arena for tensors of the given names and shapes, zero-filled.
    public init(layout: [(name: String, shape: [Int])]) {
        var entries: [ParameterEntry] = []
        var offset = 0
        for (name, shape) in layout {
            let entry = ParameterEntry(name: name, shape: shape, offset: offset)
            entries.append(entry)
            offset += entry.count
        }
        self.entries = entries
        count = offset
        parameters = .allocate(capacity: max(1, offset))
        gradients = .allocate(capacity: max(1, offset))
        parameters.initialize(repeating: 0)
        gradients.initialize(repeating: 0)
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
    }

    /// The parameter view of an entry.
    public func parameters(of entry: ParameterEntry) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: parameters[entry.range])
    }

    /// The gradient view of an entry.
    public func gradients(of entry: ParameterEntry) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: gradients[entry.range])
    }

    /// Sets every gradient to zero.
    public func zeroGradients() {
        gradients.update(repeating: 0)
    }

    /// Contiguous ranges covering the arena exactly, in reverse layer order (the order backward finishes
    /// them): a first bucket of about `firstBucketBytes`, then buckets of about `bucketBytes`. A tensor is
    /// never split; a bucket closes once it reaches its size.
    public func buckets(firstBucketBytes: Int, bucketBytes: Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var end = count
        var size = 0
        var limit = max(1, firstBucketBytes / MemoryLayout<Float>.stride)
        for entry in entries.reversed() {
            size += entry.count
            if size >= limit {
                result.append(entry.offset..<end)
                end = entry.offset
                size = 0
                limit = max(1, bucketBytes / MemoryLayout<Float>.stride)
            }
        }
        if end > 0 || result.isEmpty { result.append(0..<end) }
        return result
    }

    /// Every parameter tensor as (name, shape, values), in layer order.
    public func namedParameters() -> [(name: String, shape: [Int], values: [Float])] {
        entries.map { ($0.name, $0.shape, Array(parameters(of: $0))) }
    }

    /// Loads parameters by name; every entry must be present with its exact shape.
    /// - Throws: `ParameterError` naming the first missing, unknown or mis-shaped parameter.
    public func load(named tensors: [(name: String, shape: [Int], values: [Float])]) throws {
        var byName: [String: (shape: [Int], values: [Float])] = [:]
        for tensor in tensors { byName[tensor.name] = (tensor.shape, tensor.values) }
        for entry in entries {
            guard let tensor = byName[entry.name] else { throw ParameterError.missing(name: entry.name) }
            guard tensor.shape == entry.shape else {
                throw ParameterError.shapeMismatch(name: entry.name, expected: entry.shape, found: tensor.shape)
            }
            guard tensor.values.count == entry.count else {
                throw ParameterError.sizeMismatch(name: entry.name, expected: entry.count, found: tensor.values.count)
            }
        }
        if let extra = tensors.first(where: { tensor in !entries.contains { $0.name == tensor.name } }) {
            throw ParameterError.unexpected(name: extra.name)
        }
        for entry in entries {
            let values = byName[entry.name]!.values
            _ = parameters(of: entry).update(fromContentsOf: values)
        }
    }
}
