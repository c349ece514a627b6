import Cluster
import EngineCore
import NeuralNet

/// What makes ranks disagree about the model.
public enum DistributedTrainingError: Error, Equatable, CustomStringConvertible {
    case modelMismatch(rank: Int, detail: String)
    case parametersDiverged(ranks: [Int], iteration: Int)
    case shardLayoutMismatch(layout: String, worldSize: Int, rank: Int)
    case attachedTwice
    case modeMismatch(mode: String)

    public var description: String {
        switch self {
        case .modeMismatch(let mode):
            "DataParallel in mode \(mode) was attached to a trainer without virtual shards: make it with DataParallel.makeTrainer"
        case .attachedTwice:
            "data parallelism is already attached to this engine; a second attachment would average the gradients twice"
        case .modelMismatch(let rank, let detail):
            "rank \(rank) built a different model than rank 0 (\(detail)); every rank must use the same flags"
        case .parametersDiverged(let ranks, let iteration):
            "parameters of rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ", ")) "
                + "diverged from rank 0's at iteration \(iteration)"
        case .shardLayoutMismatch(let layout, let worldSize, let rank):
            "the trainer was made for \(layout) but runs as rank \(rank) of \(worldSize): make its VirtualShards from this communicator"
        }
    }
}

/// Start-up and debug checks that every rank holds the same model, as DDP does before its first step.
public enum ModelConsistency {
    /// A 64-bit FNV-1a digest of bytes.
    public static func digest(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// A digest of the arena's layout: parameter names, shapes and count.
    public static func layoutDigest(_ arena: ParameterArena) -> UInt64 {
        var text = "\(arena.count);"
        for entry in arena.entries { text += "\(entry.name):\(entry.shape);" }
        for entry in arena.bufferEntries { text += "buffer \(entry.name):\(entry.shape);" }
        return Array(text.utf8).withUnsafeBytes { digest($0) }
    }

    /// A digest of the arena's parameter values.
    public static func parameterDigest(_ arena: ParameterArena) -> UInt64 {
        digest(UnsafeRawBufferPointer(arena.parameters))
    }

    /// Checks that every rank has rank 0's parameter and buffer names, shapes and count, then copies rank 0's
    /// parameters and buffers to every rank so that all begin identical. A collective: every rank calls it.
    public static func broadcastParameters(_ arena: ParameterArena, over communicator: any Communicator) throws {
        guard communicator.size > 1 else { return }
        let layouts = try communicator.allGather(Int64(bitPattern: layoutDigest(arena)))
        if let rank = layouts.firstIndex(where: { $0 != layouts[0] }) {
            throw DistributedTrainingError.modelMismatch(
                rank: rank, detail: "\(arena.entries.count) parameter tensors, \(arena.count) values here")
        }
        try communicator.broadcast(UnsafeMutableRawBufferPointer(arena.parameters), root: 0)
        if !arena.buffers.isEmpty { try communicator.broadcast(UnsafeMutableRawBufferPointer(arena.buffers), root: 0) }
    }

    /// Checks that every rank has the same kind of optimizer state, then copies rank 0's state (moments, step
    /// counts, learning rate) to every rank. A collective: every rank calls it.
    public static func broadcastState(of optimizer: any Optimizer, over communicator: any Communicator) throws {
        guard communicator.size > 1 else { return }
        var tensors = optimizer.stateTensors()
        let scalars = optimizer.stateScalars()
        let names = scalars.keys.sorted()
        var layout = "\(type(of: optimizer));"
        for tensor in tensors { layout += "\(tensor.name):\(tensor.values.count);" }
        layout += names.joined(separator: ",")
        let layouts = try communicator.allGather(Int64(bitPattern: Array(layout.utf8).withUnsafeBytes { digest($0) }))
        if let rank = layouts.firstIndex(where: { $0 != layouts[0] }) {
            throw DistributedTrainingError.modelMismatch(rank: rank, detail: "optimizer state \(layout) here")
        }
        for index in tensors.indices {
            try tensors[index].values.withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
        }
        var values = names.map { scalars[$0]! } + [optimizer.learningRate]
        try values.withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
        try optimizer.loadState(tensors: tensors, scalars: Dictionary(uniqueKeysWithValues: zip(names, values)))
        optimizer.learningRate = values[names.count]
    }

    /// Throws naming the ranks whose parameters differ from rank 0's. A collective.
    public static func verifyIdentical(
        _ arena: ParameterArena, over communicator: any Communicator,
        iteration: Int
    ) throws {
        guard communicator.size > 1 else { return }
        let digests = try communicator.allGather(Int64(bitPattern: parameterDigest(arena)))
        let diverged = digests.indices.filter { digests[$0] != digests[0] }
        if !diverged.isEmpty { throw DistributedTrainingError.parametersDiverged(ranks: diverged, iteration: iteration) }
    }
}
