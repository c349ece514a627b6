import EngineCore
import Testing

struct ProcessFailure: Error, Equatable { let iteration: Int }

@Suite("terminate(), terminateEpoch() and errors")
struct TerminationTests {
    @Test("terminate() mid-epoch: the current event finishes, then TERMINATE, then COMPLETED; no EPOCH_COMPLETED")
    func terminateMidEpoch() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        var after: [String] = []
        try engine.on(Event.iterationCompleted(once: 5)) { engine in engine.terminate() }
        try engine.on(Event.iterationCompleted(once: 5)) { _ in after.append("second handler still ran") }
        let recorder = try EventRecorder(engine, events: [.iterationStarted, .epochCompleted, .terminate, .completed])
        try engine.run(Array(0..<3), maxEpochs: 4)
        #expect(after == ["second handler still ran"])
        #expect(recorder.log.suffix(3) == ["ITERATION_STARTED(2,5)", "TERMINATE(2,5)", "COMPLETED(2,5)"])
        #expect(!recorder.log.contains("EPOCH_COMPLETED(2,5)"))
    }

    @Test("terminate(skipCompleted: true) does not fire COMPLETED")
    func terminateSkippingCompleted() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.on(.epochCompleted) { engine in engine.terminate(skipCompleted: true) }
        let recorder = try EventRecorder(engine, events: [.epochCompleted, .terminate, .completed])
        try engine.run([1, 2], maxEpochs: 3)
        #expect(recorder.log == ["EPOCH_COMPLETED(1,2)", "TERMINATE(1,2)"])
    }

    @Test("terminate() at STARTED ends the run before any epoch")
    func terminateAtStarted() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.on(.started) { engine in engine.terminate() }
        let recorder = try EventRecorder(engine, events: [.epochStarted, .terminate, .completed])
        try engine.run([1, 2], maxEpochs: 3)
        #expect(recorder.log == ["TERMINATE(0,0)", "COMPLETED(0,0)"])
    }

    @Test("terminate() at GET_BATCH_STARTED ends the run before the batch is fetched")
    func terminateAtGetBatch() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        try engine.on(Event.getBatchStarted(once: 2)) { engine in engine.terminate() }
        try engine.run([10, 11, 12])
        #expect(processed == [10, 11])
        #expect(engine.state.iteration == 2)
    }

    @Test("terminateEpoch(): TERMINATE_SINGLE_EPOCH, then EPOCH_COMPLETED, the data restarts, the next epoch runs")
    func terminateEpoch() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        try engine.on(Event.iterationCompleted(once: 2)) { engine in engine.terminateEpoch() }
        let recorder = try EventRecorder(engine, events: [.terminateSingleEpoch, .epochCompleted, .epochStarted])
        try engine.run([0, 1, 2, 3], maxEpochs: 2)
        #expect(
            recorder.log == [
                "EPOCH_STARTED(1,0)", "TERMINATE_SINGLE_EPOCH(1,2)", "EPOCH_COMPLETED(1,2)",
                "EPOCH_STARTED(2,2)", "EPOCH_COMPLETED(2,6)"
            ])
        #expect(processed == [0, 1, 0, 1, 2, 3])
    }

    @Test("terminateEpoch(skipEpochCompleted: true) skips that EPOCH_COMPLETED")
    func terminateEpochSkipping() throws {
        let engine = Engine<Int, Void> { _, _ in }
        try engine.on(Event.iterationCompleted(once: 1)) { engine in engine.terminateEpoch(skipEpochCompleted: true) }
        let recorder = try EventRecorder(engine, events: [.terminateSingleEpoch, .epochCompleted])
        try engine.run([0, 1], maxEpochs: 2)
        #expect(recorder.log == ["TERMINATE_SINGLE_EPOCH(1,1)", "EPOCH_COMPLETED(2,3)"])
    }

    @Test("terminateEpoch() from STARTED or EPOCH_STARTED is an error", arguments: [Event.started, Event.epochStarted])
    func terminateEpochOutsideEpoch(event: Event) throws {
        let engine = Engine<Int, Void> { _, _ in }
        try engine.on(event) { engine in engine.terminateEpoch() }
        #expect(throws: EngineError.terminateEpochOutsideEpoch(event.name)) { try engine.run([1]) }
    }

    @Test("without an EXCEPTION_RAISED handler, run rethrows the process function's error")
    func errorWithoutHandler() throws {
        let engine = Engine<Int, Void> { engine, _ in
            if engine.state.iteration == 2 { throw ProcessFailure(iteration: 2) }
        }
        #expect(throws: ProcessFailure(iteration: 2)) { try engine.run([1, 2, 3]) }
    }

    @Test("with an EXCEPTION_RAISED handler, it receives the error and the run ends without COMPLETED")
    func errorWithHandler() throws {
        let engine = Engine<Int, Void> { engine, _ in
            if engine.state.iteration == 2 { throw ProcessFailure(iteration: 2) }
        }
        var received: (any Error)?
        try engine.on(.exceptionRaised) { engine in received = engine.state.error }
        let recorder = try EventRecorder(engine, events: [.epochCompleted, .exceptionRaised, .completed])
        try engine.run([1, 2, 3], maxEpochs: 2)
        #expect(received as? ProcessFailure == ProcessFailure(iteration: 2))
        #expect(recorder.log == ["EXCEPTION_RAISED(1,2)"])
        #expect(engine.state.error as? ProcessFailure == ProcessFailure(iteration: 2))
    }

    @Test("an error thrown by a handler goes through the same path, and an EXCEPTION_RAISED handler may rethrow")
    func handlerErrors() throws {
        let engine = Engine<Int, Void> { _, _ in }
        try engine.on(.epochCompleted) { _ in throw ProcessFailure(iteration: -1) }
        try engine.on(.exceptionRaised) { engine in throw engine.state.error! }
        #expect(throws: ProcessFailure(iteration: -1)) { try engine.run([1]) }
    }
}

@Suite("Runs after shortened epochs")
struct ShortenedEpochTests {
    @Test("a run whose epochs were shortened by terminateEpoch() is finished: the next run starts anew")
    func finishedAfterShortEpochs() throws {
        let engine = Engine<Int, Void> { _, _ in }
        let stop = try engine.on(Event.iterationCompleted(once: 1)) { engine in engine.terminateEpoch() }
        try engine.run([0, 1, 2], maxEpochs: 2)
        #expect(engine.state.iteration == 4)
        stop.remove()
        try engine.run([0, 1, 2], maxEpochs: 2)
        #expect(engine.state.iteration == 6 && engine.state.epoch == 2)
    }
}
