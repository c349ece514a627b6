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
    case invalidState(name: String, reason: String)

    public var description: String {
        switch self {
        case .missing(let name): "parameter '\(name)' is missing"
        case .shapeMismatch(let name, let expected, let found):
            "parameter '\(name)' has shape \(found), the model needs \(expected)"
        case .unexpected(let name): "parameter '\(name)' does not exist in the model"
        case .invalidState(let name, let reason): "saved state '\(name)': \(reason)"
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
    /// The parameters, in layer order (the package's kernels and collectives; users go through the safe API
    /// below or `withUnsafeMutableBuffers`).
    package let parameters: UnsafeMutableBufferPointer<Float>
    /// The gradients, same layout as `parameters`.
    package let gradients: UnsafeMutableBufferPointer<Float>
    /// The gradients followed by one spare value in the same allocation: a collective carries a step's loss with
    /// its gradients in one call (virtual shards).
    package let gradientsAndSpare: UnsafeMutableBufferPointer<Float>
    /// The allocation `parameters` views (never empty, so that its address is never nil).
    private let parameterStorage: UnsafeMutableBufferPointer<Float>
    /// The named tensors, in layer order.
    public let entries: [ParameterEntry]
    /// Non-trainable state (running statistics): saved, loaded and broadcast with the parameters, but never given a
    /// gradient, all-reduced or stepped by an optimizer (PyTorch's buffers).
    public let bufferEntries: [ParameterEntry]
    /// The buffers' values, laid out by `bufferEntries`.
    package let buffers: UnsafeMutableBufferPointer<Float>
    private let bufferStorage: UnsafeMutableBufferPointer<Float>
    /// The arena whose parameters and buffers this one views (a replica's), kept alive with it; nil: it owns them.
    public let sharedFrom: ParameterArena?

    /// An arena for tensors of the given names and shapes, zero-filled, with the named non-trainable `buffers`.
    public init(layout: [(name: String, shape: [Int])], buffers bufferLayout: [(name: String, shape: [Int])] = []) {
        var bufferEntries: [ParameterEntry] = []
        var bufferCount = 0
        for (name, shape) in bufferLayout {
            let entry = ParameterEntry(name: name, shape: shape, offset: bufferCount)
            bufferEntries.append(entry)
            bufferCount += entry.count
        }
        self.bufferEntries = bufferEntries
        bufferStorage = .allocate(capacity: max(1, bufferCount))
        bufferStorage.initialize(repeating: 0)
        buffers = UnsafeMutableBufferPointer(rebasing: bufferStorage[0..<bufferCount])
        var entries: [ParameterEntry] = []
        var offset = 0
        for (name, shape) in layout {
            let entry = ParameterEntry(name: name, shape: shape, offset: offset)
            entries.append(entry)
            offset += entry.count
        }
        self.entries = entries
        count = offset
        parameterStorage = .allocate(capacity: max(1, offset))
        parameterStorage.initialize(repeating: 0)
        parameters = UnsafeMutableBufferPointer(rebasing: parameterStorage[0..<offset])
        gradientsAndSpare = .allocate(capacity: offset + 1)
        gradientsAndSpare.initialize(repeating: 0)
        gradients = UnsafeMutableBufferPointer(rebasing: gradientsAndSpare[0..<offset])
        sharedFrom = nil
    }

    /// An arena that views `other`'s parameters and buffers and has gradients of its own: a model replica's, which
    /// computes another micro-batch of the same step at the same time.
    public init(sharingParametersOf other: ParameterArena) {
        let root = other.sharedFrom ?? other
        sharedFrom = root
        count = root.count
        entries = root.entries
        bufferEntries = root.bufferEntries
        parameterStorage = root.parameterStorage
        parameters = root.parameters
        bufferStorage = root.bufferStorage
        buffers = root.buffers
        gradientsAndSpare = .allocate(capacity: count + 1)
        gradientsAndSpare.initialize(repeating: 0)
        gradients = UnsafeMutableBufferPointer(rebasing: gradientsAndSpare[0..<count])
    }

    deinit {
        if sharedFrom == nil {
            bufferStorage.deallocate()
            parameterStorage.deallocate()
        }
        gradientsAndSpare.deallocate()
    }

    /// The parameter view of an entry.
    package func parameters(of entry: ParameterEntry) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: parameters[entry.range])
    }

    /// The gradient view of an entry.
    package func gradients(of entry: ParameterEntry) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: gradients[entry.range])
    }

    /// A copy of every parameter, in arena order (for digests, comparisons and tests).
    public var parameterValues: [Float] { Array(parameters) }
    /// A copy of every gradient, in arena order.
    public var gradientValues: [Float] { Array(gradients) }

    /// The entry called `name`.
    /// - Throws: `ParameterError.unexpected` when the arena has no such parameter.
    public func entry(named name: String) throws -> ParameterEntry {
        guard let entry = entries.first(where: { $0.name == name }) else { throw ParameterError.unexpected(name: name) }
        return entry
    }

    /// A copy of the parameter called `name`, in its shape.
    public func parameter(named name: String) throws -> Tensor {
        let entry = try entry(named: name)
        return Tensor(shape: entry.shape, copying: UnsafeBufferPointer(parameters(of: entry)))
    }

    /// A copy of the gradient of the parameter called `name`, in its shape.
    public func gradient(named name: String) throws -> Tensor {
        let entry = try entry(named: name)
        return Tensor(shape: entry.shape, copying: UnsafeBufferPointer(gradients(of: entry)))
    }

    /// Replaces the parameter called `name`.
    /// - Throws: `ParameterError` when there is no such parameter or the shapes differ.
    public func setParameter(named name: String, to value: Tensor) throws {
        let entry = try entry(named: name)
        guard value.shape == entry.shape else {
            throw ParameterError.shapeMismatch(name: name, expected: entry.shape, found: value.shape)
        }
        _ = parameters(of: entry).update(fromContentsOf: value.values)
    }

    /// Writes (or, when `accumulate`, adds) the gradient of the parameter called `name`: how a `Model`
    /// written with tensors hands its gradients to the optimizer and the gradient all-reduce.
    /// - Throws: `ParameterError` when there is no such parameter or the shapes differ.
    public func setGradient(named name: String, to value: Tensor, accumulate: Bool = false) throws {
        let entry = try entry(named: name)
        guard value.shape == entry.shape else {
            throw ParameterError.shapeMismatch(name: name, expected: entry.shape, found: value.shape)
        }
        let view = gradients(of: entry)
        if accumulate {
            for index in view.indices { view[index] += value.values[index] }
        } else {
            _ = view.update(fromContentsOf: value.values)
        }
    }

    /// Runs `body` with the whole parameter and gradient buffers: the explicit opt-in for hand-written kernels.
    /// The buffers must not escape `body`.
    public func withUnsafeMutableBuffers<Result>(
        _ body: (_ parameters: UnsafeMutableBufferPointer<Float>, _ gradients: UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(parameters, gradients)
    }

    /// The buffer entry called `name`.
    /// - Throws: `ParameterError.unexpected` when the arena has no such buffer.
    public func bufferEntry(named name: String) throws -> ParameterEntry {
        guard let entry = bufferEntries.first(where: { $0.name == name }) else { throw ParameterError.unexpected(name: name) }
        return entry
    }

    /// A copy of the buffer called `name`, in its shape.
    public func buffer(named name: String) throws -> Tensor {
        let entry = try bufferEntry(named: name)
        return Tensor(shape: entry.shape, copying: UnsafeBufferPointer(rebasing: buffers[entry.range]))
    }

    /// Replaces the buffer called `name`.
    /// - Throws: `ParameterError` when there is no such buffer or the shapes differ.
    public func setBuffer(named name: String, to value: Tensor) throws {
        let entry = try bufferEntry(named: name)
        guard value.shape == entry.shape else {
            throw ParameterError.shapeMismatch(name: name, expected: entry.shape, found: value.shape)
        }
        _ = UnsafeMutableBufferPointer(rebasing: buffers[entry.range]).update(fromContentsOf: value.values)
    }

    /// Every buffer as (name, shape, values), in layer order.
    public func namedBuffers() -> [(name: String, shape: [Int], values: [Float])] {
        bufferEntries.map { ($0.name, $0.shape, Array(buffers[$0.range])) }
    }

    /// Runs `body` with the whole buffer storage (running statistics): for the layers that update them.
    /// The storage must not escape `body`.
    public func withUnsafeMutableBufferStorage<Result>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> Result) rethrows -> Result {
        try body(buffers)
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
