import Cluster
import EngineCore
import Foundation
import Tracing

/// Where a step's time went, as fractions of the wall time of the recorded steps (they sum to 1).
public struct StepBreakdown: Codable, Equatable, Sendable {
    /// Steps recorded.
    public var steps: Int
    /// Mean wall seconds per step.
    public var secondsPerStep: Double
    /// Matrix products (BLAS).
    public var matmul: Double
    /// The library's element-wise kernels (optimizer steps, activations, bias rows).
    public var elementwise: Double
    /// The gradient exchange across ranks.
    public var allReduce: Double
    /// The data loader's batches.
    public var data: Double
    /// The engine: handlers and the loop outside the iteration's work and the batch fetch.
    public var engine: Double
    /// The rest of the iterations' work (losses, differentiation bookkeeping, layers' own loops).
    public var other: Double

    /// `name=value` pairs, shares with three decimals.
    public var fields: [(String, String)] {
        [
            ("steps", "\(steps)"), ("ms_per_step", String(format: "%.3f", secondsPerStep * 1e3)),
            ("matmul", String(format: "%.3f", matmul)), ("elementwise", String(format: "%.3f", elementwise)),
            ("allreduce", String(format: "%.3f", allReduce)), ("data", String(format: "%.3f", data)),
            ("engine", String(format: "%.3f", engine)), ("other", String(format: "%.3f", other))
        ]
    }
}

/// Records a few steps of a run on every rank (Horovod's timeline, Ignite's profilers): the matrix products,
/// element-wise kernels, gradient exchange, batch fetches and iterations, as a Chrome trace (open it in Perfetto or
/// chrome://tracing: one process per rank, one row per compute thread) and as a `StepBreakdown`.
public final class TraceRecorder {
    /// Steps recorded, after `skip` steps of warm-up.
    public let steps: Int
    /// Steps left out before recording (the first ones pay for allocations and caches).
    public let skip: Int
    /// This rank's breakdown, once the recorded steps are done (or the run ended within them).
    public private(set) var breakdown: StepBreakdown?
    /// Every rank's spans as Chrome-trace JSON, on the rank that writes (rank 0) once recording is done.
    public private(set) var chromeTrace: Data?

    private var startTime: UInt64 = 0
    private var recording = false
    private var finished = false
    private var recordedSteps = 0
    private var batchStart: UInt64 = 0
    private var iterationStart: UInt64 = 0

    /// A recorder of `steps` steps after `skip` steps of warm-up.
    public init(steps: Int = 10, skip: Int = 5) throws {
        guard steps >= 1 else { throw ArgumentError("TraceRecorder(steps:)", steps, expected: "at least 1") }
        guard skip >= 0 else { throw ArgumentError("TraceRecorder(skip:)", skip, expected: "0 or more") }
        self.steps = steps
        self.skip = skip
    }

    /// Records on `engine`; when the steps are done every rank of `communicator` sends its spans to rank 0, which
    /// keeps them in `chromeTrace` and writes them to `path` if given (a collective: every rank attaches it).
    /// An unwritable `path` is refused here, before training, rather than after the recorded steps.
    public func attach<Batch, Output>(
        to engine: Engine<Batch, Output>, communicator: any Communicator = LocalCommunicator(),
        writingTo path: String? = nil
    ) throws {
        if let path, communicator.rank == 0 {
            guard FileManager.default.createFile(atPath: path, contents: Data()) else {
                throw OutputFileError.unwritable(path: path, reason: "cannot create the file")
            }
        }
        try engine.on(.getBatchStarted) { [self] engine in
            if !recording, !finished, engine.state.iteration == skip {
                recording = true
                TraceLog.start()
                startTime = TraceLog.now()
            }
            if recording { batchStart = TraceLog.now() }
        }
        try engine.on(.getBatchCompleted) { [self] _ in
            if recording { TraceLog.record(.data, "batch", since: batchStart) }
        }
        try engine.on(.iterationStarted) { [self] _ in
            if recording { iterationStart = TraceLog.now() }
        }
        try engine.on(.iterationCompleted) { [self] engine in
            guard recording else { return }
            TraceLog.record(.iteration, "iteration \(engine.state.iteration)", since: iterationStart)
            recordedSteps += 1
            if recordedSteps == steps { try finish(communicator: communicator, path: path) }
        }
        try engine.on(.completed) { [self] _ in
            // A run shorter than skip + steps ends the recording with what it has (every rank at the same iteration).
            if recording { try finish(communicator: communicator, path: path) }
        }
    }

    private func finish(communicator: any Communicator, path: String?) throws {
        let wall = TraceLog.now() - startTime
        let spans = TraceLog.stop()
        recording = false
        finished = true
        breakdown = Self.breakdown(of: spans, wall: wall, steps: recordedSteps)
        let all = try communicator.allGather(spans.map(RecordedSpan.init))
        guard communicator.rank == 0 else { return }
        let trace = try Self.chromeTrace(all)
        chromeTrace = trace
        if let path {
            do { try trace.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw OutputFileError.unwritable(path: path, reason: (error as NSError).localizedDescription)
            }
        }
    }

    /// The shares of the calling thread's time (worker 0): products, kernels and the exchange happen within
    /// iterations and never inside one another; the batch fetch is outside them, and the engine is what is left.
    static func breakdown(of spans: [TraceSpan], wall: UInt64, steps: Int) -> StepBreakdown {
        var totals: [TraceCategory: UInt64] = [:]
        for span in spans where span.thread == 0 { totals[span.category, default: 0] += span.duration }
        let total = Double(max(wall, 1))
        func share(_ category: TraceCategory) -> Double { Double(totals[category] ?? 0) / total }
        let iteration = share(.iteration)
        let data = share(.data)
        let matmul = share(.matmul)
        let elementwise = share(.elementwise)
        let allReduce = share(.allReduce)
        return StepBreakdown(
            steps: steps, secondsPerStep: Double(wall) / 1e9 / Double(max(steps, 1)), matmul: matmul,
            elementwise: elementwise, allReduce: allReduce, data: data,
            engine: max(0, 1 - iteration - data), other: max(0, iteration - matmul - elementwise - allReduce))
    }

    private struct RecordedSpan: Codable {
        var category: String, name: String, thread: Int, start: UInt64, duration: UInt64
        init(_ span: TraceSpan) {
            (category, name, thread, start, duration) = (span.category.rawValue, span.name, span.thread, span.start, span.duration)
        }
    }

    private struct ChromeEvent: Encodable {
        var name: String, cat: String?, ph: String, ts: Double?, dur: Double?, pid: Int, tid: Int?, args: [String: String]?
    }

    private static func chromeTrace(_ ranks: [[RecordedSpan]]) throws -> Data {
        var events: [ChromeEvent] = []
        for (rank, spans) in ranks.enumerated() {
            events.append(
                ChromeEvent(name: "process_name", cat: nil, ph: "M", ts: nil, dur: nil, pid: rank, tid: nil, args: ["name": "rank \(rank)"]))
            for span in spans {
                events.append(
                    ChromeEvent(
                        name: span.name, cat: span.category, ph: "X", ts: Double(span.start) / 1e3,
                        dur: Double(span.duration) / 1e3, pid: rank, tid: span.thread, args: nil))
            }
        }
        struct Document: Encodable {
            var traceEvents: [ChromeEvent]
            var displayTimeUnit = "ms"
        }
        return try JSONEncoder().encode(Document(traceEvents: events))
    }
}
