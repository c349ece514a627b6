import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file that a run appends to as it goes (its log, its TensorBoard events). A failed write, such as a full disk,
/// never traps and never ends the run: the file stops growing and the failure is reported once, naming the file and
/// the system's reason ("No space left on device"); checkpoints, which matter for resuming, are written separately.
public final class AppendingFile {
    /// The file's path.
    public let path: String
    /// Why writing stopped, once a write has failed.
    public private(set) var failure: String?
    private var descriptor: Int32
    private let onFailure: (String) -> Void

    /// Opens `path` for appending, creating it when missing (`truncate`: emptied first).
    /// - Throws: `OutputFileError.unwritable` with the system's reason when it cannot be opened.
    public init(path: String, truncate: Bool = false, onFailure: @escaping (String) -> Void = AppendingFile.warn) throws {
        self.path = path
        self.onFailure = onFailure
        let flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0)
        descriptor = open(path, flags, 0o644)
        guard descriptor >= 0 else {
            throw OutputFileError.unwritable(path: path, reason: String(cString: strerror(errno)))
        }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Appends `bytes`; after a failure, does nothing.
    public func append(_ bytes: some Collection<UInt8>) {
        guard descriptor >= 0, failure == nil else { return }
        let array = Array(bytes)
        var written = 0
        while written < array.count {
            let result = array.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + written, array.count - written)
            }
            if result < 0 {
                if errno == EINTR { continue }
                fail(String(cString: strerror(errno)))
                return
            }
            written += result
        }
    }

    /// Pushes what was written to the disk, reporting a failure like a write's.
    public func synchronize() {
        guard descriptor >= 0, failure == nil else { return }
        if fsync(descriptor) != 0 && errno != EINVAL && errno != EROFS { fail(String(cString: strerror(errno))) }
    }

    private func fail(_ reason: String) {
        failure = reason
        close(descriptor)
        descriptor = -1
        onFailure("\(path): \(reason); nothing more is written to it (the run goes on)")
    }

    /// The default report: one line on standard error.
    public static func warn(_ message: String) {
        FileHandle.standardError.write(Data("swift-train: warning: \(message)\n".utf8))
    }
}

/// A log, event file or report that cannot be written, with the system's reason.
public enum OutputFileError: Error, Equatable, CustomStringConvertible {
    case unwritable(path: String, reason: String)
    case isInput(path: String, option: String, inputOption: String, input: String)

    public var description: String {
        switch self {
        case .unwritable(let path, let reason): "\(path): cannot write: \(reason)"
        case .isInput(let path, let option, let inputOption, let input):
            "\(option) \(path) is the same file as \(inputOption) \(input): it would be overwritten; write to another file"
        }
    }
}

/// Outputs that must not replace an input: a prediction file named like its data, a figure named like a log.
public enum OutputProtection {
    /// Throws when `output` is the same file as one of `inputs` (the same path, a link to it, or a hard link).
    /// - Throws: `OutputFileError.isInput` naming both.
    public static func refuse(output: String, option: String, overwriting inputs: [(option: String, path: String)]) throws {
        var outputStatus = stat()
        guard stat(output, &outputStatus) == 0 else { return }  // a file that does not exist yet is no input
        for input in inputs {
            var inputStatus = stat()
            guard stat(input.path, &inputStatus) == 0 else { continue }
            if inputStatus.st_dev == outputStatus.st_dev && inputStatus.st_ino == outputStatus.st_ino {
                throw OutputFileError.isInput(path: output, option: option, inputOption: input.option, input: input.path)
            }
        }
    }
}
