import Cluster
import EngineCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Ends a run on every rank at the same iteration when any rank asks: a stop signal (the SIGTERM a scheduler such as
/// Slurm sends before it kills a job, Ctrl-C's SIGINT) or a time limit. Ranks that stopped on their own would leave
/// their peers waiting in a collective; here the ranks agree every `every` iterations (one small all-gather), so the
/// run ends between iterations, where a checkpoint resumes it exactly.
///
/// ```swift
/// let stop = AgreedStop(communicator: world, timeLimit: 3600)
/// try stop.attach(to: trainer)
/// try trainer.run(loader, maxEpochs: 90)
/// if case .signal(let number)? = stop.reason { try checkpoint.save(...); /* exit 128 + number */ }
/// ```
public final class AgreedStop {
    /// Why the run was ended.
    public enum Reason: Equatable, Sendable {
        /// A stop signal reached at least one rank (the number of the first rank's that did).
        case signal(Int32)
        /// The time limit passed (on rank 0's clock).
        case timeLimit
    }

    /// Why the run ended, once it was stopped; nil while it runs.
    public private(set) var reason: Reason?
    /// Iterations between agreements (1 for a single process, which needs no collective).
    public let every: Int
    private let communicator: any Communicator
    private let signals: [Int32]
    private let timeLimit: Double?
    private var started = 0.0
    private var monitor: SignalMonitor.Token?

    /// A stop for `communicator`'s ranks on any of `signals` (none: signals keep their default action) or after
    /// `timeLimit` seconds of training.
    /// - Throws: `ArgumentError` for a time limit that is not a positive number or an interval below 1.
    public init(
        communicator: any Communicator, signals: [Int32] = [SIGTERM, SIGINT, SIGUSR1], timeLimit: Double? = nil,
        every: Int = 10
    ) throws {
        if let timeLimit {
            try ArgumentError.require(timeLimit > 0 && timeLimit.isFinite, "AgreedStop(timeLimit:)", timeLimit, "a positive number of seconds")
        }
        try ArgumentError.require(every >= 1, "AgreedStop(every:)", every, "at least 1")
        self.communicator = communicator
        self.signals = signals
        self.timeLimit = timeLimit
        self.every = communicator.size == 1 ? 1 : every
    }

    deinit { if let monitor { SignalMonitor.release(monitor) } }

    /// Catches the signals from `.started` to `.completed` (or the run's end), and checks at iteration ends.
    public func attach(to engine: any AnyEngine) throws {
        try engine.addEventHandler(
            .started,
            erased: { [self] _ in
                reason = nil
                started = Self.clock()
                if monitor == nil && !signals.isEmpty { monitor = SignalMonitor.acquire(signals) }
            })
        try engine.addEventHandler(
            .iterationCompleted(every: every),
            erased: { [self] engine in
                if let decided = try agree() {
                    reason = decided
                    engine.terminate()
                }
            })
        try engine.addEventHandler(.completed, erased: { [self] _ in stopCatching() })
        try engine.addEventHandler(.exceptionRaised, erased: { [self] _ in stopCatching() })
    }

    /// Gives the signals back their default action (also done when the run completes).
    public func stopCatching() {
        if let monitor { SignalMonitor.release(monitor) }
        monitor = nil
    }

    /// This rank's request: a signal number, -1 for the time limit, 0 for none; every rank's, in rank order.
    private func agree() throws -> Reason? {
        var request: Int64 = 0
        if let signal = monitor.flatMap(SignalMonitor.received) {
            request = Int64(signal)
        } else if let timeLimit, Self.clock() - started > timeLimit {
            request = -1
        }
        let requests = communicator.size > 1 ? try communicator.allGather(request) : [request]
        if let signal = requests.first(where: { $0 > 0 }) { return .signal(Int32(signal)) }
        // The time limit on rank 0's clock alone, so that every rank decides the same.
        if requests[0] == -1 { return .timeLimit }
        return nil
    }

    private static func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

/// The process's stop signals while any run catches them: the first received is remembered; a second SIGINT ends the
/// process as it normally would (a user pressing Ctrl-C twice means it).
enum SignalMonitor {
    final class Token {}

    nonisolated(unsafe) private static var holders: [ObjectIdentifier: (token: Token, since: Int)] = [:]
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    nonisolated(unsafe) private static var caught: [Int32] = []
    nonisolated(unsafe) private static var deliveries: [(signal: Int32, serial: Int)] = []
    nonisolated(unsafe) private static var serial = 0
    private static let lock = NSLock()

    /// Starts catching `signals` (if no one is) and returns the caller's token.
    static func acquire(_ signals: [Int32]) -> Token {
        lock.withLock {
            if holders.isEmpty {
                var set = sigset_t()
                sigemptyset(&set)
                for number in signals { sigaddset(&set, number) }
                pthread_sigmask(SIG_UNBLOCK, &set, nil)
                caught = signals
                for number in signals {
                    Glibc.signal(number, SIG_IGN)
                    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                    source.setEventHandler { receive(number) }
                    source.resume()
                    sources.append(source)
                }
            }
            let token = Token()
            holders[ObjectIdentifier(token)] = (token, serial)
            return token
        }
    }

    /// The first signal received since `token` was acquired.
    static func received(_ token: Token) -> Int32? {
        lock.withLock {
            guard let since = holders[ObjectIdentifier(token)]?.since else { return nil }
            return deliveries.first { $0.serial >= since }?.signal
        }
    }

    /// Stops catching when the last holder releases; the signals get their default action back.
    static func release(_ token: Token) {
        lock.withLock {
            holders[ObjectIdentifier(token)] = nil
            guard holders.isEmpty else { return }
            for source in sources { source.cancel() }
            for number in caught { Glibc.signal(number, SIG_DFL) }
            caught = []
            sources = []
            deliveries = []
        }
    }

    private static func receive(_ number: Int32) {
        lock.withLock {
            if number == SIGINT, deliveries.contains(where: { $0.signal == number && $0.serial >= (holders.values.map(\.since).min() ?? 0) }) {
                // Ctrl-C a second time: the default action (the process ends at once). A repeated SIGTERM is not
                // (a scheduler may signal every process of a job, and mpirun forwards it again).
                Glibc.signal(number, SIG_DFL)
                raise(number)
                return
            }
            deliveries.append((number, serial))
            serial += 1
        }
    }
}
