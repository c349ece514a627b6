import Foundation

/// A run ended by a stop signal (a scheduler's SIGTERM, Ctrl-C): every rank finished the same iteration and rank 0
/// wrote a checkpoint of it; the process should end with 128 + the signal's number, as a killed process would.
public struct StoppedBySignal: Error, CustomStringConvertible {
    /// The signal's number.
    public let signal: Int32
    /// The iteration every rank completed.
    public let iteration: Int
    /// The checkpoint written (nil without --checkpoint-dir).
    public let checkpoint: String?
    /// Whether rank 0 already said it on standard error (under mpirun, before the ranks finalize together).
    public internal(set) var isReported = false

    public var description: String {
        let name = [SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGUSR1: "SIGUSR1"][signal] ?? "signal \(signal)"
        guard let checkpoint else {
            return "stopped by \(name) after iteration \(iteration); no checkpoint was written (no --checkpoint-dir)"
        }
        return "stopped by \(name) after iteration \(iteration); checkpoint \(checkpoint) written: continue with --resume auto"
    }
}
