import Crypto
import Foundation

/// A SHA-256 of the files a run's data came from, recorded in its checkpoints: `evaluate` and `--resume` rebuild
/// the seeded split from the same path, and a file changed since (shuffled, edited) would put training rows in the
/// "test split" or resume on other samples without a word.
enum DataDigest {
    /// The digest of `specification`'s files in hex; nil for generated data.
    static func of(_ specification: DataSpecification) throws -> String? {
        switch specification {
        case .builtin: return nil
        case .csv(let path), .text(let path): return try hash([path])
        case .idx(let directory):
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            let files = names.sorted().map { directory + "/" + $0 }.filter { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
            return try hash(files)
        }
    }

    private static func hash(_ paths: [String]) throws -> String {
        var hasher = SHA256()
        for path in paths {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw ConfigurationError.invalid(option: "--data", value: path, expected: "a readable file")
            }
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { hasher.update(data: chunk) }
        }
        return hasher.finalize().hexadecimal
    }
}
