import ChildProcesses
import Cluster
import Foundation

/// Starts an elastic job's attempts and probes with mpirun (or a command that wraps it), on the hosts chosen.
public struct ElasticMPILauncher: Sendable {
    /// The mpirun command and its leading arguments: `["mpirun"]`, or a wrapper such as
    /// `["bash", "netns-cluster", "mpirun"]`. The hosts are passed with `--host NAME:SLOTS,...`.
    public var launcher: [String]
    /// More mpirun arguments, before the executable (`--mca btl self,tcp`, ...).
    public var mpirunArguments: [String]
    /// The swift-train executable the ranks run.
    public var executable: String
    /// The training arguments (`--resume auto` is added).
    public var trainArguments: [String]
    /// Seconds a host has to start a probe process before it counts as unusable.
    public var probeTimeout: Double
    /// Catches SIGINT and SIGTERM and passes them on to the running job (nil: signals act as usual).
    public var stopSignals: StopSignals?
    /// Seconds mpirun has to end after a rank recorded its failure; then the attempt's processes are ended (a host
    /// cut off from the network keeps mpirun waiting for its daemons indefinitely).
    public var failureGrace: Double = 30

    /// A launcher of `executable train trainArguments` through `launcher`.
    public init(launcher: [String], mpirunArguments: [String], executable: String, trainArguments: [String], probeTimeout: Double) {
        self.launcher = launcher
        self.mpirunArguments = mpirunArguments
        self.executable = executable
        self.trainArguments = trainArguments
        self.probeTimeout = probeTimeout
    }

    /// The command line of `attempt`.
    public func commandLine(for attempt: ElasticSupervisor.Attempt) -> [String] {
        launcher + ["-n", "\(attempt.worldSize)", "--host", attempt.hosts.map { "\($0.name):\($0.slots)" }.joined(separator: ",")]
            + mpirunArguments + [executable, "train"] + trainArguments + ["--resume", "auto"]
    }

    /// Runs `attempt` to its end, its output and errors passing through; why it failed comes from the ranks' failure
    /// record (rank and message), never from the job's text.
    public func run(_ attempt: ElasticSupervisor.Attempt) throws -> ElasticSupervisor.Outcome {
        // Its own process group (a signal reaches mpirun behind any wrapper), reading nothing from a terminal it is not in front of.
        // The ranks record their failures in a file of this attempt's own (a structured record, not the job's text).
        let record = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-train-elastic-\(getpid())-\(attempt.number).failures").path
        try? FileManager.default.removeItem(atPath: record)
        defer { try? FileManager.default.removeItem(atPath: record) }
        var environment = ProcessInfo.processInfo.environment
        environment[FailureRecord.environmentKey] = record
        let start = {
            try ChildProcess(
                commandLine(for: attempt), environment: environment, standardInput: .null, newProcessGroup: true)
        }
        let job: ChildProcess
        do {
            job = try stopSignals.map { try $0.run(start) } ?? start()
        } catch let error as ChildProcessError {
            throw ElasticError.cannotLaunch(reason: error.description)
        }
        var termination: Termination?
        var failureSeen: Date?
        while termination == nil {
            termination = job.wait(timeout: 0.5)
            guard termination == nil else { break }
            if failureSeen == nil, !FailureRecord.read(record).isEmpty { failureSeen = Date() }
            if let seen = failureSeen, Date().timeIntervalSince(seen) > failureGrace {
                FileHandle.standardError.write(
                    Data(
                        ("swift-train elastic: a rank failed and mpirun did not end within "
                            + "\(Int(failureGrace)) s; ending its processes\n").utf8))
                termination = job.stop(grace: 5) ?? job.wait()
            }
        }
        // The ranks mpirun started end with it (they are in its process group); none outlives the attempt.
        job.endGroup(grace: 5)
        let failures = FailureRecord.read(record)
        stopSignals?.finished()
        guard let termination else { return .failed(exitCode: -1, reason: "the job could not be waited for") }
        // A rank's recorded failure makes the attempt a failure whatever mpirun's own exit status.
        if termination.succeeded && failures.isEmpty { return .succeeded }
        if let signal = stopSignals?.receivedSignal { throw ElasticError.stopped(signal: signal) }
        // The first recorded failure says why (rank and message); no record means a rank ended without a word.
        let reason =
            failures.first.map { $0.message.hasPrefix("rank \($0.rank): ") ? $0.message : "rank \($0.rank): \($0.message)" }
            ?? "no rank recorded a failure: a rank was killed or its host lost"
        return .failed(exitCode: termination.succeeded ? 1 : termination.exitCode, reason: reason)
    }

    /// Whether `host` starts a process within `probeTimeout` seconds (`mpirun -n 1 --host HOST:1 true`); a host
    /// gets a second try, since mpirun's daemons occasionally fail to start on a healthy host.
    public func probe(_ host: ElasticHost) -> Bool {
        probeOnce(host) || probeOnce(host)
    }

    private func probeOnce(_ host: ElasticHost) -> Bool {
        guard
            let probe = try? ChildProcess(
                launcher + ["-n", "1", "--host", "\(host.name):1"] + mpirunArguments + ["true"],
                standardOutput: .null, standardError: .null, newProcessGroup: true)
        else {
            return false
        }
        guard let termination = probe.wait(timeout: probeTimeout) else {
            probe.stop(grace: 3)
            return false
        }
        return termination.succeeded
    }
}
