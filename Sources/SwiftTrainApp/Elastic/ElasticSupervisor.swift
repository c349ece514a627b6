import Foundation

/// Runs a training job again and again on the hosts still usable until it succeeds, like torchrun's
/// `--max-restarts` and Horovod elastic, for MPI's fixed worlds: each attempt is a new mpirun that resumes from
/// rank 0's newest valid checkpoint. With virtual shards the world size is always one that divides the shard
/// count, so the job ends with the bits of an uninterrupted run whatever hosts it lost.
public final class ElasticSupervisor {
    /// One launch: where and on how many ranks.
    public struct Attempt: Sendable, Equatable {
        /// 1 for the first launch, then one more per restart.
        public var number: Int
        /// The hosts used, in order (rank 0 on the first).
        public var hosts: [ElasticHost]
        /// Ranks launched.
        public var worldSize: Int

        /// Attempt `number`: `worldSize` ranks on `hosts`.
        public init(number: Int, hosts: [ElasticHost], worldSize: Int) {
            self.number = number
            self.hosts = hosts
            self.worldSize = worldSize
        }
    }

    /// How an attempt ended.
    public enum Outcome: Sendable, Equatable {
        case succeeded
        /// The job failed: mpirun's exit code and the last error line the job printed.
        case failed(exitCode: Int32, reason: String)
    }

    /// Restarts allowed after the first launch.
    public let maxRestarts: Int
    /// The smallest world size worth running.
    public let minRanks: Int
    /// The job's virtual shard count, which every world size must divide (nil: any world size).
    public let virtualShards: Int?
    private let discover: () throws -> [ElasticHost]
    private let isUsable: (ElasticHost) -> Bool
    private let launch: (Attempt) throws -> Outcome
    private let log: (String) -> Void

    /// A supervisor.
    /// - Parameters:
    ///   - discover: the hosts that may be used, read again before every attempt (hostfile or discovery script).
    ///   - isUsable: whether a host can start a rank now (a probe); unusable hosts are left out of the attempt.
    ///   - launch: runs one attempt to its end.
    ///   - log: where restarts and their reasons are reported.
    public init(
        maxRestarts: Int, minRanks: Int, virtualShards: Int?, discover: @escaping () throws -> [ElasticHost],
        isUsable: @escaping (ElasticHost) -> Bool, launch: @escaping (Attempt) throws -> Outcome,
        log: @escaping (String) -> Void
    ) {
        self.maxRestarts = maxRestarts
        self.minRanks = minRanks
        self.virtualShards = virtualShards
        self.discover = discover
        self.isUsable = isUsable
        self.launch = launch
        self.log = log
    }

    /// The largest world size `slots` ranks allow that divides the shard count (any size without shards).
    public static func worldSize(slots: Int, virtualShards: Int?) -> Int {
        guard let shards = virtualShards else { return slots }
        var size = 1
        while size * 2 <= slots, shards % (size * 2) == 0 { size *= 2 }
        return slots >= 1 ? size : 0
    }

    /// Runs attempts until one succeeds; returns the attempts made.
    /// - Throws: `ElasticError.tooFewRanks` when the usable hosts fall below `minRanks`, `.restartsExhausted` when
    ///   the job failed more than `maxRestarts` times.
    @discardableResult
    public func run() throws -> [Attempt] {
        var attempts: [Attempt] = []
        var lastFailure = ""
        while true {
            let listed = try discover()
            let usable = listed.filter(isUsable)
            for host in listed where !usable.contains(host) { log("\(host.name) is not usable now (it did not start a process); leaving it out") }
            let slots = usable.reduce(0) { $0 + $1.slots }
            let size = Self.worldSize(slots: slots, virtualShards: virtualShards)
            guard size >= minRanks, size >= 1 else {
                throw ElasticError.tooFewRanks(available: size, minimum: minRanks, shards: virtualShards)
            }
            let attempt = Attempt(number: attempts.count + 1, hosts: Self.placement(of: size, on: usable), worldSize: size)
            if let previous = attempts.last {
                log(
                    "restart \(attempt.number - 1) of \(maxRestarts) after: \(lastFailure); now \(size) rank"
                        + "\(size == 1 ? "" : "s") on \(attempt.hosts.map(\.description).joined(separator: ", "))"
                        + (previous.worldSize != size ? " (was \(previous.worldSize))" : ""))
            } else {
                log("starting \(size) rank\(size == 1 ? "" : "s") on \(attempt.hosts.map(\.description).joined(separator: ", "))")
            }
            attempts.append(attempt)
            switch try launch(attempt) {
            case .succeeded:
                if attempts.count > 1 { log("the job finished after \(attempts.count - 1) restart\(attempts.count == 2 ? "" : "s")") }
                return attempts
            case .failed(let code, let reason):
                lastFailure = "exit code \(code)" + (reason.isEmpty ? "" : " (\(reason))")
                if attempts.count > maxRestarts {
                    throw ElasticError.restartsExhausted(attempts: attempts.count, maxRestarts: maxRestarts, lastFailure: lastFailure)
                }
            }
        }
    }

    /// The first hosts' slots filled in order until `size` ranks are placed.
    static func placement(of size: Int, on hosts: [ElasticHost]) -> [ElasticHost] {
        var remaining = size
        var placed: [ElasticHost] = []
        for host in hosts where remaining > 0 {
            placed.append(ElasticHost(name: host.name, slots: min(host.slots, remaining)))
            remaining -= min(host.slots, remaining)
        }
        return placed
    }
}
