import Crypto
import EngineCore
import Foundation

/// What is wrong with a checkpoint file.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case truncated(path: String, detail: String)
    case badHeader(path: String, detail: String)
    case notACheckpoint(path: String)
    case unsupported(path: String, detail: String)
    case checksumMismatch(path: String)
    case missingObject(name: String)
    case objectMismatch(name: String, detail: String)
    case directory(path: String, reason: String)
    case unknownPlaceholder(String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): cannot read checkpoint: \(reason)"
        case .truncated(let path, let detail): "\(path): truncated checkpoint: \(detail)"
        case .badHeader(let path, let detail): "\(path): corrupt checkpoint header: \(detail)"
        case .notACheckpoint(let path): "\(path): not a swift-train checkpoint (no swift-train metadata)"
        case .unsupported(let path, let detail): "\(path): unsupported checkpoint: \(detail)"
        case .checksumMismatch(let path): "\(path): checksum mismatch: the file is corrupted"
        case .missingObject(let name): "the checkpoint has no '\(name)' object"
        case .objectMismatch(let name, let detail): "checkpoint object '\(name)': \(detail)"
        case .directory(let path, let reason): "\(path): \(reason)"
        case .unwritable(let path, let reason): "\(path): cannot write checkpoint: \(reason)"
        case .unknownPlaceholder(let key):
            "unknown placeholder '{\(key)}' in the checkpoint file name pattern (known: filename_prefix, name, "
                + "global_step, score_name, score, ext)"
        }
    }
}

/// The checkpoint format: a safetensors file whose tensors are every tensor of the saved state (named by
/// their dotted path, e.g. `model.0.weight`) and whose `__metadata__` holds the rest of the state as JSON
/// (`state`), the format name and version, and a SHA-256 over everything meaningful (`sha256`).
///
/// Layout: 8-byte little-endian header length, the JSON header padded with spaces to a multiple of 8, then
/// the raw little-endian Float32 data, contiguous, in name order; the file ends at the last tensor. Python's
/// `safetensors` reads the weights; the checksum is verified on every load.
public enum CheckpointFile {
    static let format = "swift-train-checkpoint"
    static let version = "1"

    /// Encodes a state tree (object name → object state) as checkpoint bytes.
    public static func encode(_ tree: StateDict) -> [UInt8] {
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        let state = StateJSON.write(.dictionary(tree), tensorPath: "", tensors: &tensors)
        tensors.sort { $0.name < $1.name }
        var offsets: [(Int, Int)] = []
        var offset = 0
        for tensor in tensors {
            offsets.append((offset, offset + 4 * tensor.values.count))
            offset += 4 * tensor.values.count
        }
        let digest = checksum(state: state, tensors: tensors.map { ($0.name, $0.shape) }, offsets: offsets) { hasher in
            for tensor in tensors { tensor.values.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        }
        var header = "{"
        for (index, tensor) in tensors.enumerated() {
            header +=
                StateJSON.quote(tensor.name) + ":{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offsets[index].0),\(offsets[index].1)]},"
        }
        header +=
            "\"__metadata__\":{\"format\":\(StateJSON.quote(format)),\"format_version\":\"\(version)\","
            + "\"sha256\":\"\(digest)\",\"state\":\(StateJSON.quote(state))}}"
        while header.utf8.count % 8 != 0 { header += " " }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.utf8.count + offset)
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header.utf8)
        for tensor in tensors { tensor.values.withUnsafeBytes { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Decodes and verifies checkpoint bytes into the state tree they were encoded from.
    /// - Parameter source: the file's name, for error messages.
    public static func decode(_ bytes: [UInt8], source: String) throws -> StateDict {
        guard bytes.count >= 8 else { throw CheckpointError.truncated(path: source, detail: "\(bytes.count) bytes") }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw CheckpointError.truncated(path: source, detail: "header of \(headerLength) bytes in a file of \(bytes.count)")
        }
        guard headerLength <= UInt64(maximumHeaderBytes) else {
            throw CheckpointError.badHeader(path: source, detail: "a header of \(headerLength) bytes (at most \(maximumHeaderBytes))")
        }
        let dataStart = 8 + Int(headerLength)
        let headerText = String(decoding: bytes[8..<dataStart], as: UTF8.self)
        let header: StateValue
        do { header = try StateJSON.parse(headerText, tensor: { _ in .null }) } catch {
            throw CheckpointError.badHeader(path: source, detail: "\(error)")
        }
        guard case .dictionary(let entries) = header else { throw CheckpointError.badHeader(path: source, detail: "not an object") }
        guard case .dictionary(let metadata)? = entries["__metadata__"], metadata["format"] == .string(format) else {
            throw CheckpointError.notACheckpoint(path: source)
        }
        guard metadata["format_version"] == .string(version) else {
            throw CheckpointError.unsupported(path: source, detail: "format version \(metadata["format_version"].map { "\($0)" } ?? "none")")
        }
        guard case .string(let state)? = metadata["state"], case .string(let expectedDigest)? = metadata["sha256"] else {
            throw CheckpointError.badHeader(path: source, detail: "metadata lacks state or sha256")
        }
        var tensors: [(name: String, shape: [Int], range: Range<Int>)] = []
        for (name, entry) in entries where name != "__metadata__" {
            guard case .dictionary(let fields) = entry, case .array(let shapeValues)? = fields["shape"],
                case .array(let offsetValues)? = fields["data_offsets"], offsetValues.count == 2,
                case .int(let begin) = offsetValues[0], case .int(let end) = offsetValues[1]
            else {
                throw CheckpointError.badHeader(path: source, detail: "tensor '\(name)' is malformed")
            }
            guard fields["dtype"] == .string("F32") else {
                throw CheckpointError.unsupported(path: source, detail: "tensor '\(name)' has dtype \(fields["dtype"].map { "\($0)" } ?? "none")")
            }
            let shape = try shapeValues.map { value -> Int in
                guard case .int(let size) = value, size >= 0 else {
                    throw CheckpointError.badHeader(path: source, detail: "tensor '\(name)' has a bad shape")
                }
                return size
            }
            var elements = 1
            for size in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow, product <= bytes.count else {
                    throw CheckpointError.badHeader(path: source, detail: "tensor '\(name)' of shape \(shape) is larger than the file")
                }
                elements = product
            }
            guard begin >= 0, end >= begin, end <= bytes.count, end - begin == 4 * elements else {
                throw CheckpointError.badHeader(path: source, detail: "tensor '\(name)' offsets disagree with its shape")
            }
            tensors.append((name, shape, begin..<end))
        }
        tensors.sort { $0.range.lowerBound < $1.range.lowerBound || ($0.range.lowerBound == $1.range.lowerBound && $0.name < $1.name) }
        var expectedStart = 0
        for tensor in tensors {
            guard tensor.range.lowerBound == expectedStart else {
                throw CheckpointError.badHeader(path: source, detail: "tensor '\(tensor.name)' overlaps or leaves a hole")
            }
            expectedStart = tensor.range.upperBound
        }
        guard dataStart + expectedStart <= bytes.count else {
            throw CheckpointError.truncated(path: source, detail: "data ends at byte \(bytes.count), tensors need \(dataStart + expectedStart)")
        }
        guard dataStart + expectedStart == bytes.count else {
            throw CheckpointError.badHeader(path: source, detail: "\(bytes.count - dataStart - expectedStart) bytes after the last tensor")
        }
        let byName = tensors.sorted { $0.name < $1.name }
        let digest = checksum(
            state: state, tensors: byName.map { ($0.name, $0.shape) },
            offsets: byName.map { ($0.range.lowerBound, $0.range.upperBound) }
        ) { hasher in
            bytes.withUnsafeBytes { raw in
                for tensor in byName {
                    hasher.update(
                        bufferPointer: UnsafeRawBufferPointer(
                            rebasing: raw[(dataStart + tensor.range.lowerBound)..<(dataStart + tensor.range.upperBound)]))
                }
            }
        }
        guard digest == expectedDigest else { throw CheckpointError.checksumMismatch(path: source) }
        let lookup = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        let tree: StateValue
        do {
            tree = try StateJSON.parse(state) { name in
                guard let tensor = lookup[name] else { throw CheckpointError.badHeader(path: source, detail: "no tensor '\(name)'") }
                let values = bytes.withUnsafeBytes { raw in
                    (0..<(tensor.range.count / 4)).map { index in
                        Float(
                            bitPattern: UInt32(
                                littleEndian: raw.loadUnaligned(
                                    fromByteOffset: dataStart + tensor.range.lowerBound + 4 * index,
                                    as: UInt32.self)))
                    }
                }
                return .tensor(shape: tensor.shape, values: values)
            }
        } catch let error as CheckpointError { throw error } catch {
            throw CheckpointError.badHeader(path: source, detail: "state: \(error)")
        }
        guard case .dictionary(let result) = tree else { throw CheckpointError.badHeader(path: source, detail: "state is not an object") }
        return result
    }

    /// The largest header read: a checkpoint's header is its tensors' names and shapes and its state as JSON (a few
    /// kilobytes to megabytes); a larger length is a damaged or foreign file, refused before it is read.
    public static let maximumHeaderBytes = 256 << 20

    /// The bytes of the checkpoint at `url`, read into one allocation after its header length was checked against
    /// the file's size (a file claiming a 2^60-byte header is refused without reading it).
    public static func read(bytesAt url: URL) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CheckpointError.unreadable(path: url.path, reason: "no such file")
        }
        if let problem = DataFile.problem(url.path) { throw CheckpointError.unreadable(path: url.path, reason: problem) }
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw CheckpointError.unreadable(path: url.path, reason: "permission denied or not a file")
        }
        defer { try? handle.close() }
        let size: UInt64
        do {
            size = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
        } catch {
            throw CheckpointError.unreadable(path: url.path, reason: "not a regular file")
        }
        guard size >= 8 else { throw CheckpointError.truncated(path: url.path, detail: "\(size) bytes") }
        guard size <= UInt64(ProcessInfo.processInfo.physicalMemory / 2) else {
            throw CheckpointError.unreadable(path: url.path, reason: "\(size) bytes is more than half of this machine's memory")
        }
        let prefix = [UInt8]((try? handle.read(upToCount: 8)) ?? Data())
        guard prefix.count == 8 else { throw CheckpointError.truncated(path: url.path, detail: "\(prefix.count) bytes") }
        let headerLength = prefix.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= size - 8 else {
            throw CheckpointError.truncated(path: url.path, detail: "header of \(headerLength) bytes in a file of \(size)")
        }
        guard headerLength <= UInt64(maximumHeaderBytes) else {
            throw CheckpointError.badHeader(path: url.path, detail: "a header of \(headerLength) bytes (at most \(maximumHeaderBytes))")
        }
        var bytes = prefix
        bytes.reserveCapacity(Int(size))
        while bytes.count < Int(size) {
            guard let chunk = try? handle.read(upToCount: Swift.min(1 << 26, Int(size) - bytes.count)), !chunk.isEmpty else {
                throw CheckpointError.truncated(path: url.path, detail: "the file ended at byte \(bytes.count) of \(size)")
            }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }

    /// Reads, verifies and decodes the checkpoint at `url`.
    public static func read(_ url: URL) throws -> StateDict {
        try decode(try read(bytesAt: url), source: url.path)
    }

    private static func checksum(
        state: String, tensors: [(String, [Int])], offsets: [(Int, Int)],
        data: (inout SHA256) -> Void
    ) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("\(format)\n\(version)\n\(state)\n".utf8))
        for (index, tensor) in tensors.enumerated() {
            hasher.update(data: Array("\(tensor.0)|F32|\(tensor.1)|\(offsets[index].0)|\(offsets[index].1)\n".utf8))
        }
        data(&hasher)
        return hasher.finalize().hexadecimal
    }
}
