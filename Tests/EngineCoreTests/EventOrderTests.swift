import EngineCore
import Testing

@Suite("The event loop fires events in the reference order")
struct EventOrderTests {
    @Test("run([a, b, c], maxEpochs: 2) fires exactly the reference sequence")
    func twoEpochsOfThree() throws {
        let engine = Engine<String, String> { _, batch in batch }
        let recorder = try EventRecorder(engine)
        try engine.run(["a", "b", "c"], maxEpochs: 2)
        #expect(
            recorder.log == [
                "STARTED(0,0)",
                "EPOCH_STARTED(1,0)",
                "GET_BATCH_STARTED(1,0)", "GET_BATCH_COMPLETED(1,0)[a]", "ITERATION_STARTED(1,1)", "ITERATION_COMPLETED(1,1)",
                "GET_BATCH_STARTED(1,1)", "GET_BATCH_COMPLETED(1,1)[b]", "ITERATION_STARTED(1,2)", "ITERATION_COMPLETED(1,2)",
                "GET_BATCH_STARTED(1,2)", "GET_BATCH_COMPLETED(1,2)[c]", "ITERATION_STARTED(1,3)", "ITERATION_COMPLETED(1,3)",
                "EPOCH_COMPLETED(1,3)",
                "EPOCH_STARTED(2,3)",
                "GET_BATCH_STARTED(2,3)",
                "DATALOADER_STOP_ITERATION(2,3)",
                "GET_BATCH_COMPLETED(2,3)[a]", "ITERATION_STARTED(2,4)", "ITERATION_COMPLETED(2,4)",
                "GET_BATCH_STARTED(2,4)", "GET_BATCH_COMPLETED(2,4)[b]", "ITERATION_STARTED(2,5)", "ITERATION_COMPLETED(2,5)",
                "GET_BATCH_STARTED(2,5)", "GET_BATCH_COMPLETED(2,5)[c]", "ITERATION_STARTED(2,6)", "ITERATION_COMPLETED(2,6)",
                "EPOCH_COMPLETED(2,6)",
                "COMPLETED(2,6)"
            ])
    }

    @Test("over a run, GET_BATCH fires maxEpochs x epochLength times and STOP_ITERATION maxEpochs - 1 times")
    func eventCounts() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        let recorder = try EventRecorder(engine)
        try engine.run(Array(0..<4), maxEpochs: 5)
        #expect(recorder.log.filter { $0.hasPrefix("GET_BATCH_STARTED") }.count == 20)
        #expect(recorder.log.filter { $0.hasPrefix("GET_BATCH_COMPLETED") }.count == 20)
        #expect(recorder.log.filter { $0.hasPrefix("DATALOADER_STOP_ITERATION") }.count == 4)
        #expect(engine.state.iteration == 20 && engine.state.epoch == 5)
    }

    @Test("state counts from 1, the batch is cleared at each fetch, the output once a batch arrived; output holds the process result")
    func stateDuringRun() throws {
        var seen: [String] = []
        let engine = Engine<Int, Int> { _, batch in batch * 10 }
        #expect(engine.state.iteration == 0 && engine.state.epoch == 0)
        try engine.on(.getBatchStarted) { engine in
            seen.append("fetch batch=\(String(describing: engine.state.batch)) output=\(String(describing: engine.state.output))")
        }
        try engine.on(.iterationCompleted) { engine in seen.append("done output=\(engine.state.output!)") }
        try engine.run([1, 2])
        #expect(seen == ["fetch batch=nil output=nil", "done output=10", "fetch batch=nil output=Optional(10)", "done output=20"])
        #expect(engine.state.maxEpochs == 1 && engine.state.epochLength == 2)
    }

    @Test("a handler on ITERATION_STARTED may replace the batch the process function receives")
    func replaceBatch() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        try engine.on(.iterationStarted) { engine in engine.state.batch! += 100 }
        try engine.run([1, 2, 3])
        #expect(processed == [101, 102, 103])
    }

    @Test("the data iterator persists across epochs: epoch 2 starts at batch epochLength")
    func shorterEpochLength() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        let recorder = try EventRecorder(engine, events: [.dataLoaderStopIteration, .epochCompleted])
        try engine.run([0, 1, 2, 3, 4], maxEpochs: 3, epochLength: 2)
        #expect(processed == [0, 1, 2, 3, 4, 0])
        #expect(
            recorder.log == [
                "EPOCH_COMPLETED(1,2)", "EPOCH_COMPLETED(2,4)", "DATALOADER_STOP_ITERATION(3,5)",
                "EPOCH_COMPLETED(3,6)"
            ])
    }

    @Test("an epoch longer than the data restarts the data inside the epoch")
    func longerEpochLength() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        let recorder = try EventRecorder(engine, events: [.dataLoaderStopIteration, .epochCompleted])
        try engine.run([0, 1, 2], maxEpochs: 2, epochLength: 4)
        #expect(processed == [0, 1, 2, 0, 1, 2, 0, 1])
        #expect(
            recorder.log == [
                "DATALOADER_STOP_ITERATION(1,3)", "EPOCH_COMPLETED(1,4)",
                "DATALOADER_STOP_ITERATION(2,6)", "EPOCH_COMPLETED(2,8)"
            ])
    }

    @Test("one-pass data with no count: the first exhaustion sets the epoch length and ends epoch 1")
    func iteratorData() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        let recorder = try EventRecorder(engine, events: [.getBatchStarted, .epochCompleted, .dataLoaderStopIteration])
        try engine.run(OnePass([7, 8, 9]), maxEpochs: 1)
        #expect(engine.state.epochLength == 3)
        #expect(
            recorder.log == [
                "GET_BATCH_STARTED(1,0)", "GET_BATCH_STARTED(1,1)", "GET_BATCH_STARTED(1,2)",
                "GET_BATCH_STARTED(1,3)", "EPOCH_COMPLETED(1,3)"
            ])
    }

    @Test("a one-pass iterator with an explicit epoch length continues across epochs")
    func iteratorContinuesAcrossEpochs() throws {
        var processed: [Int] = []
        let engine = Engine<Int, Void> { _, batch in processed.append(batch) }
        try engine.run(OnePass(Array(0..<6)), maxEpochs: 3, epochLength: 2)
        #expect(processed == [0, 1, 2, 3, 4, 5])
    }

    @Test("data that is empty even after a restart ends the epoch early, warning unless the run is in its last epoch")
    func dataRunsOut() throws {
        var warnings: [String] = []
        let engine = Engine<Int, Void> { _, _ in }
        engine.warningHandler = { warnings.append($0) }
        try engine.run(OnePass([1, 2]), maxEpochs: 2, epochLength: 3)
        #expect(engine.state.iteration == 2)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("cannot provide more batches") == true)
    }

    @Test("without data each iteration processes () and GET_BATCH events do not fire")
    func noData() throws {
        var count = 0
        let engine = Engine<Void, Void> { _, _ in count += 1 }
        let recorder = try EventRecorder(engine, events: [.getBatchStarted, .getBatchCompleted, .epochCompleted])
        try engine.run(maxEpochs: 2, epochLength: 3)
        #expect(count == 6)
        #expect(recorder.log == ["EPOCH_COMPLETED(1,3)", "EPOCH_COMPLETED(2,6)"])
    }

    @Test("maxIterations ends the run with TERMINATE then COMPLETED, no EPOCH_COMPLETED for the partial epoch")
    func maxIterations() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        let recorder = try EventRecorder(engine, events: [.epochCompleted, .terminate, .completed])
        try engine.run([1, 2, 3], maxIterations: 5)
        #expect(recorder.log == ["EPOCH_COMPLETED(1,3)", "TERMINATE(2,5)", "COMPLETED(2,5)"])
        #expect(throws: EngineError.conflictingLimits) { try Engine<Int, Int> { _, b in b }.run([1], maxEpochs: 1, maxIterations: 1) }
    }

    @Test("times of the last epoch and of the whole run are kept")
    func times() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        try engine.run([1, 2, 3], maxEpochs: 2)
        let epoch = try #require(engine.state.times[.epochCompleted])
        let total = try #require(engine.state.times[.completed])
        #expect(epoch >= 0 && total >= epoch)
    }

    @Test("a finished engine given no larger limit starts a new run")
    func newRunAfterFinish() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        let recorder = try EventRecorder(engine, events: [.started])
        try engine.run([1, 2], maxEpochs: 2)
        try engine.run([1, 2], maxEpochs: 2)
        #expect(recorder.log == ["STARTED(0,0)", "STARTED(0,0)"])
        #expect(engine.state.iteration == 4)
        try engine.run([1, 2])
        #expect(recorder.log.count == 3 && engine.state.iteration == 2)
    }
}
