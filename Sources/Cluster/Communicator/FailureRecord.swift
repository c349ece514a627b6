import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A rank's failure as one JSON line, appended to the file named by `SWIFT_TRAIN_FAILURE_RECORD` when a supervisor
/// set it: the supervisor learns that the job failed, where and why from a record instead of from the job's text,
/// and can end a job whose `mpirun` does not exit (a host cut off leaves it waiting for daemons it cannot reach).
public enum FailureRecord {
    /// The environment variable naming the record file.
    public static let environmentKey = "SWIFT_TRAIN_FAILURE_RECORD"

    /// Appends `{"rank":R,"exit_code":C,"message":"..."}` when a record file is named; never throws (a failing rank
    /// must still end).
    public static func write(rank: Int, exitCode: Int32, message: String) {
        guard let path = ProcessInfo.processInfo.environment[environmentKey], !path.isEmpty else { return }
        let fields: [String: Any] = ["rank": rank, "exit_code": Int(exitCode), "message": message]
        guard var line = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        line.append(UInt8(ascii: "\n"))
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        _ = line.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    /// The records in `path`, oldest first (lines that are not records are skipped).
    public static func read(_ path: String) -> [(rank: Int, exitCode: Int32, message: String)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let rank = object["rank"] as? Int, let code = object["exit_code"] as? Int, let message = object["message"] as? String
            else { return nil }
            return (rank, Int32(truncatingIfNeeded: code), message)
        }
    }
}
