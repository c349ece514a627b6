import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a span of a step's time was spent on.
package enum TraceCategory: String, CaseIterable, Sendable {
    /// Matrix products (BLAS).
    case matmul
    /// Element-wise kernels (optimizer steps, activations, normalisations).
    case elementwise
    /// The gradient exchange across ranks.
    case allReduce = "allreduce"
    /// Fetching the next batch from the data loader.
    case data
    /// An engine iteration: from ITERATION_STARTED to ITERATION_COMPLETED.
    case iteration
}

/// One timed span on one thread.
package struct TraceSpan: Sendable {
    package let category: TraceCategory
    package let name: String
    /// The compute thread (0: the thread that records).
    package let thread: Int
    /// Nanoseconds since recording started.
    package let start: UInt64
    package let duration: UInt64
}

/// The process's span logs, one per recording thread (simulated ranks are threads of one process): off, one flag
/// read per instrumented call, until a recorder starts one. The library's products, kernels and collectives write
/// to them; `TraceRecorder` (Training) starts, stops and reads them.
package enum TraceLog {
    private struct Log {
        var origin: UInt64
        var spans: [TraceSpan] = []
    }

    private static let logs = Mutex<[UInt: Log]>([:])
    private static let active = Atomic<Int>(0)
    /// At most this many spans are kept per log (a few steps of any model fit well within it).
    package static let capacity = 1 << 20

    /// Whether any thread is recording.
    @inline(__always) package static var isRecording: Bool { active.load(ordering: .relaxed) > 0 }

    /// Monotonic nanoseconds.
    @inline(__always) package static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// This thread's identity as a log key.
    package static func currentThread() -> UInt {
        #if canImport(Glibc)
            UInt(pthread_self())
        #else
            UInt(bitPattern: pthread_self())
        #endif
    }

    /// Starts (or restarts, cleared) the calling thread's log.
    package static func start() {
        let key = currentThread()
        let added = logs.withLock { logs in
            defer { logs[key] = Log(origin: now()) }
            return logs[key] == nil
        }
        if added { active.add(1, ordering: .relaxed) }
    }

    /// Stops the calling thread's log and returns its spans, in the order they ended.
    package static func stop() -> [TraceSpan] {
        let key = currentThread()
        guard let log = logs.withLock({ $0.removeValue(forKey: key) }) else { return [] }
        active.subtract(1, ordering: .relaxed)
        return log.spans
    }

    /// Records a span that began at `start` (from `now()`) and ends now: on the calling thread's log, or for a compute
    /// thread (`thread` > 0) on the log of `owner`, the thread whose parallel work it runs.
    package static func record(
        _ category: TraceCategory, _ name: @autoclosure () -> String, since start: UInt64, thread: Int = 0,
        owner: UInt? = nil
    ) {
        let end = now()
        let key = owner ?? currentThread()
        logs.withLock { logs in
            guard let origin = logs[key]?.origin, start >= origin, logs[key]!.spans.count < capacity else { return }
            logs[key]!.spans.append(
                TraceSpan(
                    category: category, name: name(), thread: thread, start: start - origin,
                    duration: end - start))
        }
    }

    /// Runs `body`, recorded as a span of the calling thread when it is recording.
    @inline(__always)
    package static func measure<T>(
        _ category: TraceCategory, _ name: @autoclosure () -> String, thread: Int = 0, owner: UInt? = nil,
        _ body: () throws -> T
    ) rethrows -> T {
        guard isRecording else { return try body() }
        let start = now()
        defer { record(category, name(), since: start, thread: thread, owner: owner) }
        return try body()
    }
}
