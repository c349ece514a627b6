import Foundation

/// Writes checkpoint files so that a crash never leaves a broken file under a checkpoint's real name.
///
/// Each file is written to a temporary name in the same directory, flushed to disk (fsync), renamed over
/// the real name, and the directory is flushed so the rename itself survives a power loss. Only the
/// writing rank touches the file system; other ranks hold a saver that writes nothing, so no
/// construction order can make ranks disagree.
public final class DiskSaver: @unchecked Sendable {
    // Sendable by confinement: with `writesInBackground`, files are written and removed only on `queue`, one at a
    // time; the error slot is guarded by `lock`; everything else is set at construction.
    /// The checkpoint directory.
    public let directory: URL
    /// Whether this saver writes (rank 0) or only keeps the bookkeeping (other ranks).
    public let isWriter: Bool
    /// Test hook: called after `n` bytes of a file are written; throwing simulates a crash mid-write.
    var afterWritingBytes: ((Int) throws -> Void)?
    /// The lock file's descriptor while this saver holds the directory (exclusive savers only).
    private var lockDescriptor: Int32 = -1
    /// Whether `Checkpoint` hands encoding and writing to a background queue, so the saving rank returns to its
    /// peers at once (it only copies the state); `waitForWrites()` finishes them.
    public var writesInBackground = false
    private let queue = DispatchQueue(label: "swift-train.checkpoint-writer")
    private let errorLock = NSLock()
    private var backgroundError: (any Error)?
    private var pendingWrites = 0

    /// A saver into `directory`, which is checked to be writable at once (not at the first save).
    /// - Parameters:
    ///   - createDirectory: create the directory (and parents) when missing.
    ///   - requireEmpty: refuse a directory that already holds checkpoints (Ignite's default).
    ///   - exclusive: hold an advisory lock on the directory for the saver's lifetime, refusing a second writer
    ///     (another run on the same directory); temporary files left by a killed writer are removed.
    public init(
        directory: URL, createDirectory: Bool = false, requireEmpty: Bool = true, isWriter: Bool = true,
        exclusive: Bool = false
    ) throws {
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
        let probe = directory.appendingPathComponent(".write-test-\(getpid())")
        let probeDescriptor = open(probe.path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard probeDescriptor >= 0 else {
            throw CheckpointError.unwritable(path: directory.path, reason: String(cString: strerror(errno)))
        }
        close(probeDescriptor)
        unlink(probe.path)
        if exclusive { try lock() }
        if requireEmpty, !existingNames.isEmpty {
            throw CheckpointError.directory(path: directory.path, reason: "already holds checkpoints (allow with requireEmpty: false)")
        }
    }

    deinit {
        if lockDescriptor >= 0 { close(lockDescriptor) }
    }

    /// Takes the directory's advisory lock, or refuses naming the process that holds it; then removes the
    /// temporary files of writers that are no longer alive.
    private func lock() throws {
        let path = directory.appendingPathComponent(".swift-train.lock").path
        let descriptor = open(path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else { throw CheckpointError.unwritable(path: path, reason: String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(descriptor, &buffer, buffer.count)
            close(descriptor)
            let holder = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw CheckpointError.directory(
                path: directory.path,
                reason: "another run (process \(holder)) is writing checkpoints here; use another --checkpoint-dir")
        }
        ftruncate(descriptor, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pid.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress!, $0.count) }
        lockDescriptor = descriptor
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where name.hasPrefix(".") && name.contains(".tmp-") {
            if let owner = Int32(name.split(separator: "-").last ?? ""), owner != getpid(), kill(owner, 0) == 0 { continue }
            unlink(directory.appendingPathComponent(name).path)
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
            throw CheckpointError.unwritable(path: temporary.path, reason: String(cString: strerror(errno)))
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
                        throw CheckpointError.unwritable(path: temporary.path, reason: String(cString: strerror(errno)))
                    }
                    written += result
                    try afterWritingBytes?(written)
                }
            }
            guard fsync(descriptor) == 0 else {
                throw CheckpointError.unwritable(path: temporary.path, reason: "fsync: \(String(cString: strerror(errno)))")
            }
            close(descriptor)
            closed = true
            guard rename(temporary.path, target.path) == 0 else {
                throw CheckpointError.unwritable(path: target.path, reason: "rename: \(String(cString: strerror(errno)))")
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

    /// Runs `work` on the writer queue (in order with every earlier one); its error is kept for `waitForWrites()`.
    /// At most one write waits behind the one under way: a run that saves faster than the disk writes waits
    /// here rather than piling up copies of its state.
    func enqueue(_ work: @escaping @Sendable () throws -> Void) {
        errorLock.lock()
        let busy = pendingWrites > 1
        errorLock.unlock()
        if busy { queue.sync {} }
        errorLock.lock()
        pendingWrites += 1
        errorLock.unlock()
        queue.async { [self] in
            var failure: (any Error)?
            do { try work() } catch { failure = error }
            errorLock.lock()
            pendingWrites -= 1
            if backgroundError == nil, let failure { backgroundError = failure }
            errorLock.unlock()
        }
    }

    /// Waits until every background write has finished; rethrows the first that failed.
    public func waitForWrites() throws {
        queue.sync {}
        errorLock.lock()
        defer { errorLock.unlock() }
        if let error = backgroundError {
            backgroundError = nil
            throw error
        }
    }

    /// Deletes the checkpoint `name` (a missing file is not an error).
    public func remove(name: String) {
        guard isWriter else { return }
        unlink(directory.appendingPathComponent(name).path)
    }
}
