import EngineCore
import Foundation
import Testing

/// The reference's rules for a run that is continued, terminated, interrupted, given new data or bad arguments.
@Suite("Continuing, terminating, interrupting and feeding a run, as the reference does")
struct RunContinuationTests {
    /// An engine that records the iteration and batch of every process call.
    static func recordingEngine() -> (Engine<Int, Int>, () -> [String]) {
        final class Log { var entries: [String] = [] }
        let log = Log()
        let engine = Engine<Int, Int> { engine, batch in
            log.entries.append("\(engine.state.iteration):\(batch)")
            return batch * 10
        }
        return (engine, { log.entries })
    }

    // MARK: 1. Continuing a finished run

    @Test("after run(maxEpochs: 2) completes, run(maxEpochs: 4) continues with epochs 3 and 4")
    func continueTraining() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.run([1, 2, 3], maxEpochs: 2)
        let recorder = try EventRecorder(engine, events: [.started, .epochStarted, .completed])
        try engine.run([1, 2, 3], maxEpochs: 4)
        #expect(recorder.log == ["STARTED(2,6)", "EPOCH_STARTED(3,6)", "EPOCH_STARTED(4,9)", "COMPLETED(4,12)"])
        #expect(engine.state.iteration == 12 && engine.state.epoch == 4)
    }

    @Test("a smaller maxEpochs, another epochLength, or switching limit kinds on a continued run are errors")
    func continuationErrors() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.run([1, 2, 3], maxEpochs: 3)
        #expect(throws: EngineError.self) { try engine.run([1, 2, 3], maxEpochs: 2) }
        #expect(throws: EngineError.limitSwitch("from maxEpochs to maxIterations: set state.maxEpochs = nil first")) {
            try engine.run([1, 2, 3], maxIterations: 20)
        }
        let stopped = Engine<Int, Int> { _, batch in batch }
        try stopped.on(Event.iterationCompleted(once: 2)) { engine in engine.terminate() }
        try stopped.run([1, 2, 3], maxEpochs: 3)
        #expect(throws: EngineError.resumeMismatch("epochLength 5 differs from the run's 3")) {
            try stopped.run([1, 2, 3], maxEpochs: 3, epochLength: 5)
        }
        let byIterations = Engine<Int, Int> { _, batch in batch }
        try byIterations.run([1, 2, 3], maxIterations: 4)
        #expect(throws: EngineError.self) { try byIterations.run([1, 2, 3], maxEpochs: 2) }
        byIterations.state.maxIterations = nil
        try byIterations.run([1, 2, 3], maxEpochs: 2)
        #expect(byIterations.state.iteration == 6)
    }

    @Test("a finished run with no larger limit starts afresh, from iteration 0")
    func finishedStartsAfresh() throws {
        let (engine, log) = Self.recordingEngine()
        try engine.run([1, 2], maxEpochs: 2)
        try engine.run([1, 2], maxEpochs: 2)
        #expect(log() == ["1:1", "2:2", "3:1", "4:2", "1:1", "2:2", "3:1", "4:2"])
    }

    // MARK: 2. After terminate()

    @Test("after terminate() at EPOCH_STARTED the next run starts the next epoch in full, counting iterations on")
    func terminateAtEpochStarted() throws {
        let (engine, log) = Self.recordingEngine()
        let stop = try engine.on(Event.epochStarted(once: 2)) { engine in engine.terminate() }
        try engine.run([1, 2, 3], maxEpochs: 3)
        #expect(engine.state.epoch == 2 && engine.state.iteration == 3)
        stop.remove()
        let recorder = try EventRecorder(engine, events: [.started, .epochStarted, .completed])
        try engine.run([1, 2, 3], maxEpochs: 3)
        #expect(recorder.log == ["STARTED(2,3)", "EPOCH_STARTED(3,3)", "COMPLETED(3,6)"])
        #expect(log() == ["1:1", "2:2", "3:3", "4:1", "5:2", "6:3"])
    }

    @Test("a handler that terminates at every EPOCH_STARTED still gets one epoch further with each run")
    func repeatedTermination() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        var epochs: [Int] = []
        try engine.on(.epochStarted) { engine in
            epochs.append(engine.state.epoch)
            engine.terminate()
        }
        for _ in 0..<3 { try engine.run([1, 2], maxEpochs: 5) }
        #expect(epochs == [1, 2, 3])
    }

    @Test("after terminate() mid-epoch the next run starts the next epoch with a full pass from the data's start")
    func terminateMidEpoch() throws {
        let (engine, log) = Self.recordingEngine()
        let stop = try engine.on(Event.iterationCompleted(once: 5)) { engine in engine.terminate() }
        try engine.run([1, 2, 3], maxEpochs: 3)
        stop.remove()
        try engine.run([1, 2, 3], maxEpochs: 3)
        #expect(log() == ["1:1", "2:2", "3:3", "4:1", "5:2", "6:1", "7:2", "8:3"])
        #expect(engine.state.epoch == 3 && engine.state.iteration == 8)
    }

    @Test("a run terminated in its last epoch has nothing left to do")
    func terminatedInLastEpoch() throws {
        let (engine, log) = Self.recordingEngine()
        let stop = try engine.on(Event.iterationCompleted(once: 5)) { engine in engine.terminate() }
        try engine.run([1, 2, 3], maxEpochs: 2)
        stop.remove()
        let recorder = try EventRecorder(engine, events: [.started, .epochStarted, .iterationStarted, .completed])
        try engine.run([1, 2, 3], maxEpochs: 2)
        #expect(recorder.log == ["STARTED(2,5)", "COMPLETED(2,5)"])
        #expect(log().count == 5)
    }

    // MARK: 3. interrupt()

    @Test("interrupt() fires INTERRUPT and returns; each next run continues in place, with the same iterator")
    func interruptAndContinue() throws {
        let (reference, referenceLog) = Self.recordingEngine()
        let referenceEvents = try EventRecorder(reference)
        try reference.run(0..<10, maxEpochs: 3)

        let (engine, log) = Self.recordingEngine()
        let events = try EventRecorder(engine)
        var interrupting = true
        try engine.on(Event.iterationCompleted(every: 6)) { engine in if interrupting { engine.interrupt() } }
        try engine.run(0..<10, maxEpochs: 3)
        #expect(engine.state.iteration == 6 && engine.state.epoch == 1)
        #expect(events.log.suffix(2) == ["ITERATION_COMPLETED(1,6)", "INTERRUPT(1,6)"])
        try engine.run(0..<10, maxEpochs: 3)
        #expect(engine.state.iteration == 12 && engine.state.epoch == 2)
        try engine.run(0..<10, maxEpochs: 3)
        try engine.run(0..<10, maxEpochs: 3)
        #expect(engine.state.iteration == 24 && engine.state.epoch == 3)
        interrupting = false
        try engine.run(0..<10, maxEpochs: 3)
        #expect(engine.state.iteration == 30)
        #expect(log() == referenceLog(), "the same batches at the same iterations as an uninterrupted run")
        #expect(
            events.log.filter { !$0.hasPrefix("INTERRUPT") } == referenceEvents.log,
            "STARTED and EPOCH_STARTED are not fired again")
    }

    @Test(
        "interrupt() at STARTED, EPOCH_STARTED or GET_BATCH_STARTED continues exactly there",
        arguments: [
            Event.started, Event.epochStarted(once: 2), Event.getBatchStarted(once: 4), Event.epochCompleted(once: 1)
        ])
    func interruptAtEvents(_ event: Event) throws {
        let (reference, _) = Self.recordingEngine()
        let referenceEvents = try EventRecorder(reference)
        try reference.run(0..<3, maxEpochs: 2)
        let (engine, _) = Self.recordingEngine()
        let events = try EventRecorder(engine)
        let handle = try engine.on(event) { engine in engine.interrupt() }
        try engine.run(0..<3, maxEpochs: 2)
        #expect(events.log.last?.hasPrefix("INTERRUPT") == true)
        handle.remove()
        try engine.run(0..<3, maxEpochs: 2)
        #expect(events.log.filter { !$0.hasPrefix("INTERRUPT") } == referenceEvents.log)
    }

    @Test("resetting maxEpochs to nil after an interrupt starts a new run")
    func restartAfterInterrupt() throws {
        let (engine, _) = Self.recordingEngine()
        let handle = try engine.on(Event.iterationCompleted(once: 4)) { engine in engine.interrupt() }
        try engine.run(0..<10, maxEpochs: 2)
        handle.remove()
        engine.state.maxEpochs = nil
        let recorder = try EventRecorder(engine, events: [.started])
        try engine.run(0..<10, maxEpochs: 2)
        #expect(recorder.log == ["STARTED(0,0)"] && engine.state.iteration == 20)
    }

    // MARK: 4. setData

    @Test("setData swaps the data mid-run: the next batch comes from the new data; the epoch length stays")
    func setData() throws {
        let (engine, log) = Self.recordingEngine()
        try engine.on(Event.iterationCompleted(once: 2)) { engine in engine.setData([100, 101, 102, 103, 104]) }
        try engine.run([1, 2, 3], maxEpochs: 2)
        #expect(log() == ["1:1", "2:2", "3:100", "4:101", "5:102", "6:103"])
        #expect(engine.state.epochLength == 3 && engine.state.iteration == 6)
    }

    // MARK: 5. Output survives exhausted data

    @Test("state.output is cleared only once a batch was fetched, so the last output survives data that runs out")
    func outputSurvivesExhaustion() throws {
        let engine = Engine<Int, Int> { _, batch in batch * 10 }
        engine.warningHandler = { _ in }
        var outputsAtFetch: [Int?] = []
        try engine.on(.getBatchStarted) { engine in outputsAtFetch.append(engine.state.output) }
        try engine.run(OnePass([1, 2]), maxEpochs: 1, epochLength: 3)
        #expect(engine.state.output == 20)
        #expect(outputsAtFetch == [nil, 10, 20])
    }

    // MARK: 6. Bad arguments

    @Test("run on empty data is an error: input data has zero size")
    func emptyData() throws {
        #expect(throws: EngineError.emptyData) { try Engine<Int, Int> { _, b in b }.run([Int]()) }
        #expect("\(EngineError.emptyData)".contains("input data has zero size"))
    }

    @Test("loadStateDict refuses an epoch length or a maximum number of epochs below 1")
    func badStateDict() throws {
        let engine = Engine<Int, Int> { _, b in b }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(0), "iteration": .int(0), "max_epochs": .int(2)])
        }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(0), "max_epochs": .int(0)])
        }
    }

    @Test(
        "bad filters are errors the caller can catch when attaching, not traps",
        arguments: [
            Event.iterationCompleted(every: 0), Event.iterationCompleted(once: -1), Event.iterationCompleted(once: []),
            Event.iterationCompleted(after: -2), Event.iterationCompleted(before: -1), Event.epochCompleted(every: -3)
        ])
    func badFilters(_ event: Event) throws {
        let engine = Engine<Int, Int> { _, b in b }
        #expect(throws: EngineError.self) { try engine.on(event) { _ in } }
        #expect(engine.handlerCount(for: .iterationCompleted) == 0)
    }

    // MARK: 7. State and times

    @Test("a fresh engine's state dict has no maximum number of epochs yet")
    func freshStateDict() throws {
        let engine = Engine<Int, Int> { _, b in b }
        #expect(engine.stateDict()["max_epochs"] == .null)
        try engine.run([1], maxEpochs: 2)
        #expect(engine.stateDict()["max_epochs"] == .int(2))
    }

    @Test("the times recorded for EPOCH_COMPLETED and COMPLETED include their handlers' time")
    func timesIncludeHandlers() throws {
        let engine = Engine<Int, Int> { _, b in b }
        try engine.on(.epochCompleted) { _ in Thread.sleep(forTimeInterval: 0.05) }
        try engine.on(.completed) { _ in Thread.sleep(forTimeInterval: 0.05) }
        try engine.run([1, 2])
        #expect(engine.state.times[.epochCompleted]! >= 0.05)
        #expect(engine.state.times[.completed]! >= 0.1)
    }

    // MARK: 8. Handles and custom events

    @Test("removing a handle with an engine it does not belong to is an error")
    func foreignHandle() throws {
        let first = Engine<Int, Int> { _, b in b }
        let second = Engine<Int, Int> { _, b in b }
        let handle = try first.on(.completed) { _ in }
        #expect(throws: EngineError.foreignHandle) { try second.removeEventHandler(handle) }
        #expect(handle.isAttached)
        try first.removeEventHandler(handle)
        #expect(!handle.isAttached)
    }

    @Test("custom events and their counters belong to the engine that registered them")
    func customEventsPerEngine() throws {
        let first = Engine<Int, Int> { _, b in b }
        let second = Engine<Int, Int> { _, b in b }
        let custom = Event("RunContinuationTests.custom")
        first.registerEvents(custom, counter: .iteration)
        #expect(first.isRegistered(custom) && !second.isRegistered(custom))
        #expect(throws: EngineError.unregisteredEvent(custom.name)) { try second.fireEvent(custom) }
        second.registerEvents(custom, counter: .fires)
        var firstCounts: [Int] = []
        var secondFires = 0
        try first.on(custom(every: 2)) { engine in firstCounts.append(engine.state.iteration) }
        try second.on(custom(every: 2)) { _ in secondFires += 1 }
        try first.on(.iterationCompleted) { engine in try engine.fireEvent(custom) }
        try first.run([1, 2, 3, 4])
        for _ in 0..<4 { try second.fireEvent(custom) }
        #expect(firstCounts == [2, 4] && secondFires == 2)
    }
}
