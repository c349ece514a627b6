import Crypto
import EngineCore
import Foundation

/// What a checkpoint holds, for `swift-train inspect`: progress, world size, parameters and their digest.
public struct CheckpointInspection {
    /// The file.
    public let path: String
    /// Saved objects, sorted.
    public let objects: [String]
    /// The trainer's iteration and epoch.
    public let iteration: Int, epoch: Int
    /// Ranks of the run that wrote it.
    public let worldSize: Int?
    /// Model parameters in model order: name and shape.
    public let parameters: [(name: String, shape: [Int])]
    /// Number of parameter values.
    public let parameterCount: Int
    /// SHA-256 of the parameters' bytes in model order (the run summary's `parameters_sha256`).
    public let parametersSHA256: String

    /// Reads and verifies the checkpoint at `path`.
    public init(path: String) throws {
        self.path = path
        let tree = try CheckpointFile.read(URL(fileURLWithPath: path))
        objects = tree.keys.sorted()
        var iteration = 0
        var epoch = 0
        if case .dictionary(let trainer)? = tree["trainer"] {
            iteration = (try? trainer.int("iteration")) ?? 0
            if let length = try? trainer.optionalInt("epoch_length"), length > 0 { epoch = iteration / length }
        }
        self.iteration = iteration
        self.epoch = epoch
        if case .dictionary(let job)? = tree["job"], case .int(let size)? = job["world_size"] { worldSize = size } else { worldSize = nil }
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        if case .dictionary(let model)? = tree["model"] {
            for (name, value) in model { if case .tensor(let shape, let values) = value { tensors.append((name, shape, values)) } }
        }
        tensors.sort { Self.modelOrder($0.name).lexicographicallyPrecedes(Self.modelOrder($1.name)) }
        parameters = tensors.map { ($0.name, $0.shape) }
        parameterCount = tensors.reduce(0) { $0 + $1.values.count }
        var hasher = SHA256()
        for tensor in tensors { tensor.values.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        parametersSHA256 = hasher.finalize().hexadecimal
    }

    /// Model order of a parameter name "LAYER.weight" / "LAYER.bias": by layer, weight before bias.
    static func modelOrder(_ name: String) -> [Int] {
        let parts = name.split(separator: ".")
        let layer = parts.first.flatMap { Int($0) } ?? Int.max
        let kind = parts.last == "weight" ? 0 : parts.last == "bias" ? 1 : 2
        return [layer, kind]
    }

    /// A description for people.
    public var text: String {
        var lines = [
            "checkpoint \(path)",
            "iteration \(iteration), epoch \(epoch), world size \(worldSize.map(String.init) ?? "unknown")",
            "objects: \(objects.joined(separator: ", "))",
            "parameters: \(parameterCount) values in \(parameters.count) tensors, sha256 \(parametersSHA256)"
        ]
        for parameter in parameters { lines.append("  \(parameter.name) \(parameter.shape)") }
        return lines.joined(separator: "\n")
    }

    /// The same as one JSON object.
    public var jsonLine: String {
        let tensors = parameters.map { "{\"name\":\(StateJSON.quote($0.name)),\"shape\":[\($0.shape.map(String.init).joined(separator: ","))]}" }
        return "{\"path\":\(StateJSON.quote(path)),\"iteration\":\(iteration),\"epoch\":\(epoch),"
            + "\"world_size\":\(worldSize.map(String.init) ?? "null"),\"objects\":[\(objects.map(StateJSON.quote).joined(separator: ","))],"
            + "\"parameters\":\(parameterCount),\"parameters_sha256\":\"\(parametersSHA256)\",\"tensors\":[\(tensors.joined(separator: ","))]}"
    }
}
