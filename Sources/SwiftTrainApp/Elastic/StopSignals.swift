import ChildProcesses
import Foundation
import Glibc

/// SIGINT and SIGTERM for a supervisor: passed on to the job it runs, and remembered so that no restart follows.
///
/// Without it, stopping the supervisor would leave its mpirun running, or be taken for a failure and restarted.
public final class StopSignals: @unchecked Sendable {
    private let lock = NSLock()
    private var sources: [any DispatchSourceSignal] = []
    private var child: ChildProcess?
    private var received: Int32?

    /// Starts catching SIGINT and SIGTERM. Call it on the main thread (the signal mask it opens is that thread's).
    public init() {
        // A parent may have started this process with the signals blocked (test runners do): unblock them here, so
        // that they reach this process. (The jobs start with every signal unblocked and at its default: ChildProcess.)
        var stops = sigset_t()
        sigemptyset(&stops)
        sigaddset(&stops, SIGINT)
        sigaddset(&stops, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &stops, nil)
        for number in [SIGINT, SIGTERM] {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.receive(number) }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
    }

    /// The stop signal received, if any.
    public var receivedSignal: Int32? { lock.withLock { received } }

    /// Starts the current child (which a signal is passed on to) unless a stop signal came first.
    func run(_ start: () throws -> ChildProcess) throws -> ChildProcess {
        try lock.withLock {
            if let received { throw ElasticError.stopped(signal: received) }
            let started = try start()
            child = started
            return started
        }
    }

    /// The child has ended.
    func finished() { lock.withLock { child = nil } }

    private func receive(_ number: Int32) {
        lock.withLock {
            received = received ?? number
            // The whole process group when the child leads one (a wrapper script and the mpirun it starts).
            child?.signal(number, group: true)
        }
    }
}
