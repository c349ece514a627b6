import Cluster
import Foundation
import NeuralNet
import Training

/// Runs a job the way the process was started: under mpirun, alone, or on simulated ranks; makes every
/// failure end the whole job promptly with one clear message.
public enum TrainingLauncher {
    /// Trains; returns rank 0's summary (nil on other ranks).
    public static func train(_ configuration: TrainingConfiguration, simulatedRanks: Int? = nil) throws -> TrainingSummary? {
        // Products are cut by shape, never by thread count: virtual shards keep their bits on any number of threads.
        try launch(
            simulatedRanks: simulatedRanks, deterministic: configuration.deterministic, threads: configuration.threads,
            collectiveTimeout: configuration.collectiveTimeout
        ) { communicator in
            try runJob(configuration, communicator: communicator)
        }
    }

    /// Evaluates a checkpoint on its run's test split or on `data`; returns rank 0's summary.
    /// - Parameters:
    ///   - labelColumn: the label column of `data` when it differs from the run's.
    ///   - wholeData: evaluate all of the run's own data (train and test) instead of its test split.
    public static func evaluate(
        checkpoint path: String, data: DataSpecification?, batchSize: Int,
        labelColumn: LabelColumnSpecification? = nil, wholeData: Bool = false
    ) throws -> TrainingSummary? {
        try launch(simulatedRanks: nil, deterministic: false, threads: nil, collectiveTimeout: nil) { communicator in
            try CheckpointEvaluation.run(
                path: path, data: data, batchSize: batchSize, labelColumn: labelColumn,
                wholeData: wholeData, communicator: communicator)
        }
    }

    /// Runs a tool (`predict`) the way the process was started, under mpirun or alone; returns rank 0's result.
    static func launchForTool<T>(_ body: (any Communicator) throws -> T) throws -> T? {
        guard ClusterEnvironment.isLaunchedByMPI else {
            BLAS.threadCount = ProcessInfo.processInfo.activeProcessorCount
            return try body(LocalCommunicator())
        }
        BLAS.threadCount = 1
        let communicator = try MPICommunicator.initialize()
        JobEnd.setCollectiveDeadline(TrainingConfiguration.defaultCollectiveTimeout, on: communicator)
        do {
            let result = try body(communicator)
            communicator.finalize()
            return communicator.rank == 0 ? result : nil
        } catch {
            JobEnd.abort(communicator, message: "\(error)")
        }
    }

    private static func launch(
        simulatedRanks: Int?, deterministic: Bool, threads: Int?, collectiveTimeout: Double?,
        _ body: @escaping @Sendable (any Communicator) throws -> TrainingSummary
    ) throws -> TrainingSummary? {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let ranks = simulatedRanks {
            BLAS.threadCount = threads ?? 1
            let world = SimulatedWorld(size: ranks)
            // Agreed failures come back as values so that the one carrying the message is the one rethrown.
            let stop = StopRecord()
            let outcomes = try world.run { communicator -> Result<TrainingSummary, AgreedFailure> in
                do { return .success(try body(communicator)) } catch let failure as AgreedFailure { return .failure(failure) } catch let stopped
                    as StoppedBySignal
                {
                    if communicator.rank == 0 { stop.set(stopped) }
                    return .failure(.silent)
                }
            }
            if let stopped = stop.value { throw stopped }
            if let report = outcomes.lazy.compactMap({ if case .failure(let f) = $0, f.shouldPrint { f } else { nil } }).first {
                throw report
            }
            return try outcomes[0].get()
        }
        if ClusterEnvironment.isLaunchedByMPI {
            let ranksHere = ClusterEnvironment.localSize
            BLAS.threadCount = threads ?? max(1, cores / max(1, ranksHere))
            let communicator = try MPICommunicator.initialize(reductionOrder: deterministic ? .fixedRankOrder : .fast)
            // A stalled peer ends the job within a minute by default; --collective-timeout 0 waits forever.
            JobEnd.setCollectiveDeadline(
                collectiveTimeout == 0 ? nil : (collectiveTimeout ?? TrainingConfiguration.defaultCollectiveTimeout), on: communicator)
            do {
                let summary = try body(communicator)
                communicator.finalize()
                return communicator.rank == 0 ? summary : nil
            } catch var stopped as StoppedBySignal {
                // Every rank stopped after the same iteration and rank 0's checkpoint is written: a clean end. Rank 0
                // says so before MPI_Finalize, which the others wait for: a rank ending first cannot make mpirun
                // kill rank 0 before its message (or while its checkpoint is still being written).
                if communicator.rank == 0 { FileHandle.standardError.write(Data("swift-train: \(stopped)\n".utf8)) }
                stopped.isReported = true
                communicator.finalize()
                throw stopped
            } catch let failure as AgreedFailure {
                // Every rank saw the failure at the same point. The rank that carries the message prints it before
                // MPI_Finalize, which the others wait for: a rank exiting first cannot make mpirun kill it unprinted.
                if failure.shouldPrint { FileHandle.standardError.write(Data("swift-train: error: \(failure)\n".utf8)) }
                communicator.finalize()
                throw AgreedFailure.silent
            } catch {
                JobEnd.abort(communicator, message: "\(error)")
            }
        }
        BLAS.threadCount = threads ?? cores
        return try body(LocalCommunicator())
    }

    /// Builds, resumes and runs one rank's job; setup failures are agreed on by all ranks so that none is
    /// left waiting in a collective, and printed once.
    static func runJob(_ configuration: TrainingConfiguration, communicator: any Communicator) throws -> TrainingSummary {
        try ConfigurationAgreement.check(configuration, communicator: communicator)
        let job: TrainingJob? = try agreeing(communicator) { try TrainingJob(configuration: configuration, communicator: communicator) }
        guard let job else { throw AgreedFailure.silent }
        // Rank 0 finds and reads the checkpoint; every rank gets its state (a failure there is every rank's, said once).
        guard let checkpoint = try agreeing(communicator, { try CheckpointTransfer.fetch(configuration, communicator: communicator, note: job.note) })
        else { throw AgreedFailure.silent }
        _ = try agreeing(communicator) { () -> Bool in
            if let checkpoint { try job.load(checkpoint: checkpoint) }
            return true
        }
        return try job.run()
    }

    /// Runs `body` on every rank, then agrees: if any rank failed, every rank throws. The failure is
    /// printed by rank 0 when it failed too (the usual case: the same bad input everywhere), otherwise by
    /// each failing rank with its number.
    static func agreeing<T>(_ communicator: any Communicator, _ body: () throws -> T) throws -> T? {
        var outcome: Result<T, any Error>
        do { outcome = .success(try body()) } catch { outcome = .failure(error) }
        let failed: Int64 = if case .failure = outcome { 1 } else { 0 }
        let statuses = communicator.size > 1 ? try communicator.allGather(failed) : [failed]
        guard statuses.contains(1) else { return try outcome.get() }
        if case .failure(let error) = outcome {
            if communicator.rank == 0 {
                throw AgreedFailure.report(String(describing: error))
            } else if statuses[0] == 0 {
                throw AgreedFailure.report("rank \(communicator.rank): \(error)")
            }
        }
        throw AgreedFailure.silent
    }
}

/// Rank 0's stop, kept while simulated ranks finish.
private final class StopRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: StoppedBySignal?
    var value: StoppedBySignal? { lock.withLock { stored } }
    func set(_ stop: StoppedBySignal) { lock.withLock { stored = stop } }
}

/// A failure every rank of a job agreed on; only one of them carries the message to print.
public enum AgreedFailure: Error, CustomStringConvertible {
    case report(String)
    case silent

    public var description: String {
        switch self {
        case .report(let message): message
        case .silent: "another rank failed"
        }
    }

    /// Whether this rank should print the failure.
    public var shouldPrint: Bool { if case .report = self { true } else { false } }
}
