import Cluster
import Foundation

/// How the application ends a job that cannot go on, a decision the library leaves to it: the failure is recorded
/// for an elastic supervisor (`FailureRecord`), said in one line on standard error, then every rank is ended.
public enum JobEnd {
    /// Records and prints `message` as rank `rank`'s failure.
    public static func report(rank: Int, message: String) {
        let line = message.hasPrefix("rank \(rank): ") ? message : "rank \(rank): \(message)"
        FailureRecord.write(rank: rank, exitCode: 1, message: line)
        FileHandle.standardError.write(Data("swift-train: error: \(line)\n".utf8))
    }

    /// Reports `message` as this rank's failure and ends every rank of `communicator`'s job with exit code 1.
    public static func abort(_ communicator: any Communicator, message: String) -> Never {
        report(rank: communicator.rank, message: message)
        communicator.abort(exitCode: 1)
    }

    /// Sets `communicator`'s collective deadline (nil: none): a rank whose collective is late reports it this way, then
    /// its process ends.
    public static func setCollectiveDeadline(_ seconds: Double?, on communicator: MPICommunicator) {
        MPICommunicator.deadlineExpired = { rank, message in report(rank: rank, message: message) }
        communicator.collectiveTimeout = seconds
    }
}
