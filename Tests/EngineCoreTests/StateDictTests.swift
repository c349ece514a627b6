import EngineCore
import Testing

@Suite("stateDict() and resuming a run")
struct StateDictTests {
    @Test("after 3 epochs x 3: {epoch_length: 3, iteration: 9, max_epochs: 3}")
    func afterRun() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.run([1, 2, 3], maxEpochs: 3)
        #expect(engine.stateDict() == ["epoch_length": .int(3), "iteration": .int(9), "max_epochs": .int(3)])
    }

    @Test("a maxIterations run saves max_iters instead of max_epochs")
    func maxIterationsKey() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.on(Event.iterationCompleted(once: 2)) { engine in engine.terminate() }
        try engine.run([1, 2, 3], maxIterations: 7)
        #expect(engine.stateDict() == ["epoch_length": .int(3), "iteration": .int(2), "max_iters": .int(7)])
    }

    @Test("a round trip restores counters; epoch is derived from iteration and the reverse")
    func roundTrip() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(7), "max_epochs": .int(5)])
        #expect(engine.state.iteration == 7 && engine.state.epoch == 2 && engine.state.maxEpochs == 5)
        try engine.loadStateDict(["epoch_length": .int(4), "epoch": .int(2), "max_epochs": .int(5)])
        #expect(engine.state.iteration == 8 && engine.state.epoch == 2)
        let copy = Engine<Int, Int> { _, batch in batch }
        try copy.loadStateDict(engine.stateDict())
        #expect(copy.stateDict() == engine.stateDict())
    }

    @Test("invalid state dicts are refused with the offending key named")
    func invalid() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        #expect(throws: StateDictError.missingKey("epoch_length")) {
            try engine.loadStateDict(["iteration": .int(1), "max_epochs": .int(1)])
        }
        #expect(throws: StateDictError.missingKey("iteration")) {
            try engine.loadStateDict(["epoch_length": .int(3), "max_epochs": .int(1)])
        }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(3), "epoch": .int(1), "max_epochs": .int(2)])
        }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(3), "max_epochs": .int(2), "max_iters": .int(9)])
        }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(9), "max_epochs": .int(2)])
        }
        #expect(throws: StateDictError.wrongType(key: "iteration", expected: "an integer")) {
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .string("x"), "max_epochs": .int(2)])
        }
    }

    @Test("user-declared keys are saved and restored with their Swift types")
    func userKeys() throws {
        let alpha = StateKey<Double>("alpha")
        let seed = StateKey<UInt64>("seed")
        let engine = Engine<Int, Int> { _, batch in batch }
        engine.stateDictUserKeys = ["alpha", "seed"]
        engine.state[alpha] = 0.25
        engine.state[seed] = .max
        try engine.run([1], maxEpochs: 1)
        let saved = engine.stateDict()
        #expect(saved["alpha"] == .double(0.25))
        let copy = Engine<Int, Int> { _, batch in batch }
        copy.stateDictUserKeys = ["alpha", "seed"]
        copy.state[seed] = 0
        try copy.loadStateDict(saved)
        #expect(copy.state[alpha] == 0.25 && copy.state[seed] == .max)
        let missing = Engine<Int, Int> { _, batch in batch }
        missing.stateDictUserKeys = ["beta"]
        #expect(throws: StateDictError.missingKey("beta")) { try missing.loadStateDict(saved) }
    }

    @Test("resuming at iteration 4 with data [10, 11, 12]: STARTED and EPOCH_STARTED fire again, the base engine restarts the data")
    func resumeMidEpoch() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(4), "max_epochs": .int(3)])
        let recorder = try EventRecorder(engine, events: [.started, .epochStarted, .epochCompleted])
        try engine.run([10, 11, 12])
        #expect(processed == [10, 11, 12, 10, 11])
        #expect(
            recorder.log == [
                "STARTED(1,4)", "EPOCH_STARTED(2,4)", "EPOCH_COMPLETED(2,6)",
                "EPOCH_STARTED(3,6)", "EPOCH_COMPLETED(3,9)"
            ])
    }

    @Test("a state dict with progress beyond a smaller maxEpochs is refused at run")
    func resumeBeyondLimit() throws {
        #expect(throws: EngineError.self) {
            let other = Engine<Int, Void> { _, _ in }
            try other.loadStateDict(["epoch_length": .int(3), "iteration": .int(7), "max_epochs": .int(3)])
            try other.run([1, 2, 3], maxEpochs: 1)
        }
    }

    /// Data that starts at any iteration without producing earlier batches, and counts what it produced.
    final class CountingResumableData: ResumableSequence {
        let values: [Int]
        var produced = 0
        init(_ values: [Int]) { self.values = values }
        var batchesPerPass: Int { values.count }
        func makeIterator(startingAfter iteration: Int) -> AnyIterator<Int> {
            var position = iteration % values.count
            return AnyIterator { [self] in
                guard position < values.count else { return nil }
                defer { position += 1 }
                produced += 1
                return values[position]
            }
        }
        func makeIterator() -> AnyIterator<Int> { makeIterator(startingAfter: 0) }
    }

    @Test("a resumable data source continues at the saved position without producing skipped batches")
    func resumableData() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(4), "max_epochs": .int(3)])
        let data = CountingResumableData([10, 11, 12])
        try engine.run(data)
        #expect(processed == [11, 12, 10, 11, 12])
        #expect(data.produced == 5)
    }

    /// Data laid out otherwise than the saved run (another world): it says where the saved run continues on it.
    final class RelaidData: ResumableSequence {
        let values = [10, 11, 12, 13]
        var asked: [RunPosition] = []
        var batchesPerPass: Int { values.count }
        func makeIterator(startingAfter iteration: Int) -> IndexingIterator<[Int]> {
            Array(values.dropFirst(iteration % values.count)).makeIterator()
        }
        func makeIterator() -> IndexingIterator<[Int]> { values.makeIterator() }
        func continuation(of saved: RunPosition) -> RunPosition {
            asked.append(saved)
            // Saved after 3 of 6 batches of epoch 2 of twice the samples per batch: half of this epoch is done.
            return RunPosition(
                iteration: saved.epoch * values.count + saved.withinEpoch * values.count / saved.epochLength, epochLength: values.count)
        }
    }

    @Test("after loadStateDict the data places the run once: its answer is where the run continues, in its own epochs")
    func dataPlacesTheRun() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        try engine.loadStateDict(["epoch_length": .int(6), "iteration": .int(9), "max_epochs": .int(3)])
        let data = RelaidData()
        try engine.run(data)
        #expect(data.asked == [RunPosition(iteration: 9, epochLength: 6)])
        #expect(processed == [12, 13, 10, 11, 12, 13], "the second half of epoch 2, then epoch 3")
        #expect(engine.state.iteration == 12 && engine.state.epochLength == 4 && engine.state.epoch == 3)
        // A continued run (no state dict loaded since) is not placed again.
        try engine.run(data, maxEpochs: 4)
        #expect(data.asked.count == 1 && engine.state.iteration == 16)
    }
}
