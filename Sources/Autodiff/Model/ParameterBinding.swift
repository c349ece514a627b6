import Foundation
import NeuralNet
import _Differentiation

/// A differentiable model's parameters and buffers bound into one arena by property path, and what every
/// backward pass checks: gradients returned in the tangent (a user's own operation) are added to the arena, and a
/// parameter that received none on the first pass is named in an error. Shared by the model bridges.
final class ParameterBinding {
    let arena: ParameterArena
    let parameterNames: [String]
    private var checkedGradients = false
    /// The arena entry of each tangent leaf in visiting order, learnt on the first pass (nil for a leaf that is not
    /// a parameter); later passes collect the leaves without building their paths.
    private var leafEntries: [Int?]?
    /// The last tangent that carried no gradient (its leaves all zero, arrays included): a later tangent equal to it
    /// carries none either, and comparing costs no reflection.
    private var emptyTangent: Any?

    /// A replica's arena: this arena's parameters with gradients of its own; nil when the model has buffers (running
    /// statistics move during forward passes, so replicas cannot run at once).
    func replicaArena() -> ParameterArena? {
        arena.bufferEntries.isEmpty ? ParameterArena(sharingParametersOf: arena) : nil
    }

    /// Binds the `DTensor` parameters and `ModelBuffer`s reachable from `model`.
    init(_ model: Any) throws {
        var leaves: [(name: String, tensor: DTensor)] = []
        var buffers: [(name: String, buffer: ModelBuffer)] = []
        Self.collect(model, path: "", into: &leaves, buffers: &buffers)
        parameterNames = leaves.map(\.name)
        arena = ParameterArena(layout: leaves.map { ($0.name, $0.tensor.shape) }, buffers: buffers.map { ($0.name, $0.buffer.shape) })
        for (index, (leaf, entry)) in zip(leaves, arena.entries).enumerated() {
            guard let slot = leaf.tensor.slot, slot.arena == nil else { throw ModelError.sharedParameter(name: leaf.name) }
            try arena.setParameter(named: entry.name, to: Tensor(shape: leaf.tensor.shape, values: leaf.tensor.storage))
            slot.arena = arena
            slot.entry = entry
            slot.index = index
        }
        for (leaf, entry) in zip(buffers, arena.bufferEntries) {
            guard leaf.buffer.arena == nil else { throw ModelError.sharedParameter(name: leaf.name) }
            try arena.setBuffer(named: entry.name, to: Tensor(shape: leaf.buffer.shape, values: leaf.buffer.initialValues))
            leaf.buffer.arena = arena
            leaf.buffer.entry = entry
        }
        // Every operation allocates its result: with glibc's defaults, buffers over 128 KiB are mapped and unmapped
        // at each step (page faults dominate a step). Keeping them in the heap makes that a reuse.
        Kernels.keepLargeBuffersInTheHeap()
    }

    /// Every parameter `DTensor` and `ModelBuffer` reachable from `value`, with its dotted property path.
    static func collect(
        _ value: Any, path: String, into leaves: inout [(name: String, tensor: DTensor)],
        buffers: inout [(name: String, buffer: ModelBuffer)]
    ) {
        if let tensor = value as? DTensor {
            if tensor.slot != nil { leaves.append((path, tensor)) }
            return
        }
        if let buffer = value as? ModelBuffer {
            buffers.append((path, buffer))
            return
        }
        for (index, child) in Mirror(reflecting: value).children.enumerated() {
            let label = child.label ?? String(index)
            collect(child.value, path: path.isEmpty ? label : "\(path).\(label)", into: &leaves, buffers: &buffers)
        }
    }

    /// The tangent leaves of a gradient in visiting order (the order of `pathsInOrder(_:path:into:)`), without paths.
    static func leaves(_ value: Any, into result: inout [DTensor]) {
        if let tensor = value as? DTensor {
            result.append(tensor)
            return
        }
        if let container = value as? any TangentLeafContainer {
            container.appendLeaves(to: &result)
            return
        }
        for child in Mirror(reflecting: value).children { leaves(child.value, into: &result) }
    }

    /// The tangent leaves with their paths, in visiting order.
    static func pathsInOrder(_ value: Any, path: String, into result: inout [(path: String, tensor: DTensor)]) {
        if let tensor = value as? DTensor {
            result.append((path, tensor))
            return
        }
        for (index, child) in Mirror(reflecting: value).children.enumerated() {
            let label = child.label ?? String(index)
            if label == "base" || label == "_base" {
                pathsInOrder(child.value, path: path, into: &result)
                continue
            }
            pathsInOrder(child.value, path: path.isEmpty ? label : "\(path).\(label)", into: &result)
        }
    }

    /// Guards what the passes learn (the leaf order, the first pass's check) when replicas run backward at once.
    private let learning = NSLock()

    /// Runs a pullback in `context` with every parameter delivering into `gradients` (the arena's, or a replica's
    /// buffer in its layout), then adds the gradients that came back in the tangent instead, and on the first pass
    /// fails naming a parameter that received nothing. Replicas of one model may call it on several threads at once.
    func backward<Tangent: AdditiveArithmetic>(
        context: LayerContext, replicaSum: (([Double]) throws -> [Double])? = nil, gradients: UnsafeMutablePointer<Float>,
        accumulate: Bool, _ pullback: () throws -> Tangent
    ) throws {
        // Not accumulating: each parameter's first gradient is stored over the last step's (no zeroing pass), and a
        // parameter that received none is zeroed at the end.
        let sink = GradientSink(parameters: arena, gradients: gradients, overwrites: !accumulate)
        defer {
            if !accumulate {
                for (index, entry) in arena.entries.enumerated() where !sink.received[index] {
                    (gradients + entry.offset).update(repeating: 0, count: entry.count)
                }
            }
        }
        let tangent = try AutodiffContext.with(context, replicaSum: replicaSum, sink: sink, pullback)
        // Every pass: a user's operation may return a parameter's gradient on any step, not only the first. A tangent
        // equal to zero (the library's operations delivered everything) carries none, and comparing costs no
        // reflection. Otherwise the leaves are collected in visiting order and matched to the arena by the order
        // learnt on the first pass; a pass whose tangent has another shape (an empty array's zero) by paths.
        learning.lock()
        let (checked, knownEmpty, knownEntries) = (checkedGradients, emptyTangent as? Tangent, leafEntries)
        learning.unlock()
        if checked, tangent == .zero || knownEmpty.map({ $0 == tangent }) == true { return }
        var ordered: [DTensor] = []
        Self.leaves(tangent, into: &ordered)
        var returned: [(entry: Int, gradient: DTensor)] = []
        if let knownEntries, knownEntries.count == ordered.count {
            for (position, leaf) in ordered.enumerated() where !leaf.isZeroTangent {
                if let entry = knownEntries[position] { returned.append((entry, leaf)) }
            }
        } else {
            var paths: [(path: String, tensor: DTensor)] = []
            Self.pathsInOrder(tangent, path: "", into: &paths)
            let index = Dictionary(uniqueKeysWithValues: arena.entries.enumerated().map { ($1.name, $0) })
            if knownEntries == nil, paths.count == ordered.count {
                learning.lock()
                leafEntries = paths.map { index[$0.path] }
                learning.unlock()
            }
            for leaf in paths where !leaf.tensor.isZeroTangent {
                if let entry = index[leaf.path] { returned.append((entry, leaf.tensor)) }
            }
        }
        learning.lock()
        emptyTangent = returned.isEmpty ? tangent : nil
        learning.unlock()
        for (index, gradient) in returned {
            let entry = arena.entries[index]
            guard gradient.count == entry.count else {
                throw ParameterError.shapeMismatch(name: entry.name, expected: entry.shape, found: gradient.shape)
            }
            let overwrite = !accumulate && !sink.received[index]
            gradient.withValues { values in
                if overwrite {
                    (gradients + entry.offset).update(from: values.baseAddress!, count: entry.count)
                } else {
                    Kernels.add(values.baseAddress!, to: gradients + entry.offset, count: entry.count)
                }
            }
            sink.received[index] = true
        }
        learning.lock()
        defer { learning.unlock() }
        if !checkedGradients {
            if let missing = sink.received.firstIndex(of: false) {
                throw ModelError.parameterWithoutGradient(name: parameterNames[missing])
            }
            checkedGradients = true
        }
    }
}
