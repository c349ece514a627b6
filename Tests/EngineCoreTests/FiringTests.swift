import EngineCore
import Testing

@Suite("Firing: handlers attached or removed while an event fires, and filters across jumps of the counter")
struct FiringTests {
    @Test("a handler removed by an earlier one of the same event still runs this time, and never again")
    func removedWhileFiring() throws {
        var calls: [String] = []
        let engine = Engine<Int, Void> { _, _ in }
        var second: RemovableHandle?
        try engine.on(.iterationCompleted) { engine in
            calls.append("first \(engine.state.iteration)")
            second?.remove()
        }
        second = try engine.on(.iterationCompleted) { engine in calls.append("second \(engine.state.iteration)") }
        try engine.run([1, 2, 3])
        #expect(calls == ["first 1", "second 1", "first 2", "first 3"])
    }

    @Test("a handler attached while its event fires runs from the event's next firing")
    func attachedWhileFiring() throws {
        var calls: [String] = []
        let engine = Engine<Int, Void> { _, _ in }
        var attached = false
        try engine.on(.iterationCompleted) { engine in
            calls.append("first \(engine.state.iteration)")
            guard !attached else { return }
            attached = true
            try engine.on(.iterationCompleted) { engine in calls.append("late \(engine.state.iteration)") }
        }
        try engine.run([1, 2])
        #expect(calls == ["first 1", "first 2", "late 2"])
    }

    @Test("handlers that attach and remove handlers of the event being fired, from nested events, never run them")
    func churnWhileFiring() throws {
        let outer = Event("outer")
        let nested = Event("nested")
        var outerCalls = 0
        var nestedCalls = 0
        var transient = 0
        let engine = Engine<Int, Void> { engine, _ in try engine.fireEvent(outer) }
        engine.registerEvents([outer, nested], counter: .fires)
        try engine.on(outer) { engine in
            outerCalls += 1
            // Attached to the event being fired and removed before it ends: never in a table that fires.
            let handle = try engine.on(outer) { _ in transient += 1 }
            try engine.fireEvent(nested)
            handle.remove()
        }
        try engine.on(nested) { engine in
            nestedCalls += 1
            let handle = try engine.on(outer | nested) { _ in transient += 1 }
            handle.remove()
        }
        try engine.run(Array(0..<1_000))
        #expect(outerCalls == 1_000 && nestedCalls == 1_000)
        #expect(transient == 0)
        #expect(engine.handlerCount(for: outer) == 1 && engine.handlerCount(for: nested) == 1)
    }

    @Test("every(n) fires at the counter's multiples when a loaded state or a new run makes the counter jump")
    func everyAcrossJumps() throws {
        var fired: [Int] = []
        let engine = Engine<Int, Void> { _, _ in }
        try engine.on(.iterationCompleted(every: 3)) { engine in fired.append(engine.state.iteration) }
        try engine.run(Array(0..<10), maxEpochs: 1)
        #expect(fired == [3, 6, 9])
        fired = []
        try engine.run(Array(0..<10), maxEpochs: 1)  // a completed run given no more starts again at 0
        #expect(fired == [3, 6, 9])
        // A state saved at iteration 4 of a two-epoch run, loaded into the engine that counted to 10.
        let saved = Engine<Int, Void> { _, _ in }
        try saved.on(.iterationCompleted(once: 4)) { engine in engine.interrupt() }
        try saved.run(Array(0..<10), maxEpochs: 2)
        fired = []
        try engine.loadStateDict(saved.stateDict())
        try engine.run(Array(0..<10), maxEpochs: 2)
        #expect(fired == [6, 9, 12, 15, 18])
    }
}
