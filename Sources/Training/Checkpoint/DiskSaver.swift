import Foundation

/// Writes checkpoint files so that a crash never leaves a broken file under a checkpoint's real name.
///
/// Each file is written to a temporary name in the same directory, flushed to disk (fsync), renamed over
/// the real name, and the directory is flushed so the rename itself survives a power loss. Only the
/// writing rank touches the file system; other ranks hold a saver that writes nothing, so no
/// construction order can make ranks disagree.
public final class DiskSaver {
    /// The checkpoint directory.
    public let directory: URL
    /// Whether this saver writes (rank 0) or only keeps the bookkeeping (other ranks).
    public let isWriter: Bool
    /// Test hook: called after `n` bytes of a file are written; throwing simulates a crash mid-write.
    var afterWritingBytes: ((Int) throws -> Void)?

    /// A saver into `directory`.
    /// - Parameters:
    ///   - createDirectory: create the directory (and parents) when missing.
    ///   - requireEmpty: refuse a directory that already holds checkpoints (Ignite's default).
    public init(directory: URL, createDirectory: Bool = false, requireEmpty: Bool = true, isWriter: Bool = true) throws {
        self.directory = directory
        self.isWriter = isWriter
        guard isWriter else { return }
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard createDirectory else {
                throw CheckpointError.directory(path: directory.path, reason: "checkpoint directory does not exist")
            }
            do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw CheckpointError.directory(path: directory.path, reason: "cannot create the checkpoint directory")
            }
        } else if !isDirectory.boolValue {
            throw CheckpointError.directory(path: directory.path, reason: "is a file, not a directory")
        }
        if requireEmpty, !existingNames.isEmpty {
            throw CheckpointError.directory(path: directory.path, reason: "already holds checkpoints (allow with requireEmpty: false)")
        }
    }

    /// Names of the checkpoint files in the directory.
    public var existingNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
    }

    /// Writes `bytes` atomically under `name`; returns the file's URL (nothing is written on a non-writer).
    @discardableResult
    public func write(_ bytes: [UInt8], name: String) throws -> URL {
        let target = directory.appendingPathComponent(name)
        guard isWriter else { return target }
        let temporary = directory.appendingPathComponent(".\(name).tmp-\(getpid())")
        let descriptor = open(temporary.path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw CheckpointError.unreadable(path: temporary.path, reason: "cannot create: \(String(cString: strerror(errno)))")
        }
        var closed = false
        defer {
            if !closed { close(descriptor) }
        }
        do {
            try bytes.withUnsafeBytes { raw in
                var written = 0
                let half = raw.count / 2
                while written < raw.count {
                    let chunk = Swift.min(raw.count - written, written < half ? half - written : raw.count - written)
                    let result = Foundation.write(descriptor, raw.baseAddress! + written, Swift.max(chunk, 1))
                    guard result > 0 else {
                        throw CheckpointError.unreadable(path: temporary.path, reason: "write failed: \(String(cString: strerror(errno)))")
                    }
                    written += result
                    try afterWritingBytes?(written)
                }
            }
            guard fsync(descriptor) == 0 else {
                throw CheckpointError.unreadable(path: temporary.path, reason: "fsync failed: \(String(cString: strerror(errno)))")
            }
            close(descriptor)
            closed = true
            guard rename(temporary.path, target.path) == 0 else {
                throw CheckpointError.unreadable(path: target.path, reason: "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary.path)
            throw error
        }
        let directoryDescriptor = open(directory.path, O_RDONLY)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        return target
    }

    /// Deletes the checkpoint `name` (a missing file is not an error).
    public func remove(name: String) {
        guard isWriter else { return }
        unlink(directory.appendingPathComponent(name).path)
    }
}
