import EngineCore
import Testing

/// What a caller can get wrong is a thrown error naming it, never a trap, a crash or a hang.
@Suite("Misused engines end in errors")
struct MisuseTests {
    @Test("run called from the engine's own handler is refused, and the outer run goes on")
    func reentrantRun() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        var nested: (any Error)?
        try engine.on(Event.iterationCompleted(once: 1)) { _ in
            do { try engine.run([4, 5]) } catch { nested = error }
        }
        try engine.run([1, 2, 3], maxEpochs: 2)
        #expect(nested as? EngineError == .reentrantRun)
        #expect(engine.state.iteration == 6)
    }

    @Test("state dicts with counts no run reaches (2^62) are refused naming the key; huge limits run and end")
    func hugeCounts() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(1 << 62), "iteration": .int(1), "max_epochs": .int(1)])
        }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(Int.max - 1), "max_epochs": .int(Int.max)])
        }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(1 << 40), "epoch": .int(1 << 40), "max_epochs": .int(Int.max)])
        }
        try engine.loadStateDict(["epoch_length": .int(1 << 52), "iteration": .int(1 << 50), "max_epochs": .int(1 << 40)])
        try engine.on(Event.iterationCompleted(every: 1)) { $0.terminate() }
        try engine.run([1, 2, 3])
        #expect(engine.state.iteration == (1 << 50) + 1)
        let unbounded = Engine<Int, Int> { _, batch in batch }
        try unbounded.on(Event.iterationCompleted(once: 5)) { $0.terminate() }
        try unbounded.run([1, 2, 3], maxEpochs: Int.max)
        #expect(unbounded.state.iteration == 5)
    }

    @Test("after interrupt(), run continues the interrupted pass at the same position whatever data it is given")
    func runAfterInterruptWithOtherData() throws {
        var seen: [Int] = []
        let engine = Engine<Int, Int> { _, batch in
            seen.append(batch)
            return batch
        }
        try engine.on(Event.iterationCompleted(once: 2)) { $0.interrupt() }
        try engine.on(Event.iterationCompleted(once: 3)) { $0.interrupt() }
        try engine.run([1, 2, 3, 4], maxEpochs: 1)
        #expect(seen == [1, 2])
        // Data of another type: the interrupted pass goes on (Ignite keeps its data iterator too).
        try engine.run(Set([1]).map { _ in [10, 20, 30, 40] }.first!.lazy.map { $0 }, maxEpochs: 1)
        #expect(engine.state.iteration == 3)
        #expect(seen == [1, 2, 3])
        // Data of the same type with other values: the same.
        try engine.run([7, 7, 7, 7], maxEpochs: 1)
        #expect(engine.state.iteration == 4)
        #expect(seen == [1, 2, 3, 4])
        // The run is complete: the next run is a new one, on the data given.
        try engine.run([5, 6], maxEpochs: 1)
        #expect(seen == [1, 2, 3, 4, 5, 6])
    }

    @Test("terminateEpoch() from .epochCompleted has no epoch left to end: the run goes on, each epoch completing once")
    func terminateEpochAfterEpoch() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        var completions: [Int] = []
        try engine.on(.epochCompleted) { engine in
            completions.append(engine.state.epoch)
            engine.terminateEpoch()
        }
        try engine.run([1, 2, 3], maxEpochs: 3)
        #expect(completions == [1, 2, 3])
        #expect(engine.state.iteration == 9)
    }

    @Test("terminateEpoch() asked in the .interrupt handler of an interrupt at .started is outside an epoch")
    func terminateEpochInInterruptAtStart() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.on(.started) { $0.interrupt() }
        try engine.on(.interrupt) { $0.terminateEpoch() }
        #expect(throws: EngineError.terminateEpochOutsideEpoch("STARTED")) { try engine.run([1, 2, 3]) }
    }

    @Test("a state dict loaded by a handler mid-run takes effect without breaking the running loop")
    func loadStateDictMidRun() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        let saved = engine.stateDict()
        var loaded = false
        try engine.on(Event.epochCompleted(once: 1)) { engine in
            let state = engine.stateDict()
            try engine.loadStateDict(state)
            loaded = true
        }
        try engine.run([1, 2, 3], maxEpochs: 2)
        #expect(loaded && engine.state.iteration == 6 && engine.state.epoch == 2)
        _ = saved
    }

    @Test("a run interrupted a hundred times still sees every batch once, in order")
    func manyInterrupts() throws {
        var seen: [Int] = []
        let engine = Engine<Int, Int> { _, batch in
            seen.append(batch)
            return batch
        }
        try engine.on(.iterationCompleted) { $0.interrupt() }
        let data = Array(0..<100)
        for _ in 0..<100 { try engine.run(data, maxEpochs: 1) }
        #expect(seen == data)
    }

    @Test("a run without data interrupted continues without data, firing no GET_BATCH events")
    func interruptWithoutData() throws {
        let engine = Engine<Void, Int> { engine, _ in engine.state.iteration }
        var fetches = 0
        try engine.on(.getBatchStarted) { _ in fetches += 1 }
        try engine.on(Event.iterationCompleted(once: 3)) { $0.interrupt() }
        try engine.run(maxEpochs: 2, epochLength: 4)
        #expect(engine.state.iteration == 3)
        try engine.run(maxEpochs: 2)
        #expect(engine.state.iteration == 8)
        #expect(engine.state.epoch == 2)
        #expect(fetches == 0)
    }

    @Test("a handler that removes the batch before the process function is an error")
    func removedBatch() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.on(.iterationStarted) { _ in engine.state.batch = nil }
        #expect(throws: EngineError.batchRemoved) { try engine.run([1, 2]) }
    }

    @Test("ArgumentError names the argument, the value and what it must be")
    func argumentError() {
        #expect(
            ArgumentError("EarlyStopping(patience:)", 0, expected: "at least 1").description
                == "EarlyStopping(patience:) is 0: it must be at least 1")
    }
}
