import EngineCore
import Testing

@Suite("Event filters compare against the event's global counter")
struct EventFilterTests {
    /// Runs `epochs` x `length` iterations and returns the iterations at which a handler on `event` ran.
    func firings(_ event: Event, epochs: Int = 1, length: Int = 30) throws -> [Int] {
        var fired: [Int] = []
        let engine = Engine<Int, Void> { _, _ in }
        try engine.on(event) { engine in
            fired.append(
                event == .epochCompleted || event == .epochStarted
                    ? engine.state.epoch : engine.state.iteration)
        }
        try engine.run(Array(0..<length), maxEpochs: epochs)
        return fired
    }

    @Test("every: 3 fires at 3, 6, 9 ...")
    func every() throws {
        #expect(try firings(Event.iterationCompleted(every: 3), length: 10) == [3, 6, 9])
    }

    @Test("once: fires at a single value or at each value of a list")
    func once() throws {
        #expect(try firings(Event.iterationCompleted(once: 7)) == [7])
        #expect(try firings(Event.iterationCompleted(once: [2, 5, 11])) == [2, 5, 11])
    }

    @Test("before/after bound an open interval")
    func beforeAfter() throws {
        #expect(try firings(Event.iterationCompleted(after: 26)) == [27, 28, 29, 30])
        #expect(try firings(Event.iterationCompleted(before: 4)) == [1, 2, 3])
        #expect(try firings(Event.iterationCompleted(after: 3, before: 7)) == [4, 5, 6])
    }

    @Test("every 5, after 8, before 25 fires at 9, 14, 19, 24")
    func everyWithinWindow() throws {
        #expect(try firings(Event.iterationCompleted(every: 5, after: 8, before: 25)) == [9, 14, 19, 24])
    }

    @Test("the seed's custom filter fires at iterations 1, 2, 5, 10, 50, 100")
    func customPredicate() throws {
        let special: Set = [1, 2, 5, 10, 50, 100]
        let fired = try firings(Event.iterationCompleted(filter: { _, count in special.contains(count) }), length: 120)
        #expect(fired == [1, 2, 5, 10, 50, 100])
    }

    @Test("the predicate receives the engine")
    func predicateSeesEngine() throws {
        let fired = try firings(
            Event.iterationCompleted(filter: { engine, _ in engine.engineState.epoch == 2 }),
            epochs: 2, length: 3)
        #expect(fired == [4, 5, 6])
    }

    @Test("epoch events filter on the epoch counter, across epochs")
    func epochCounter() throws {
        #expect(try firings(Event.epochCompleted(every: 2), epochs: 7, length: 2) == [2, 4, 6])
        #expect(try firings(Event.iterationCompleted(every: 4), epochs: 3, length: 3) == [4, 8])
    }

    @Test("a handler attached through | runs once per occurrence of each member")
    func orCombined() throws {
        var log: [String] = []
        let engine = Engine<Int, Void> { _, _ in }
        try engine.on(Event.epochStarted | Event.iterationCompleted(every: 3) | Event.completed) { engine in
            log.append("\(engine.lastEvent!.name)@\(engine.state.iteration)")
        }
        try engine.run(Array(0..<6), maxEpochs: 1)
        #expect(log == ["EPOCH_STARTED@0", "ITERATION_COMPLETED@3", "ITERATION_COMPLETED@6", "COMPLETED@6"])
    }

    @Test("handlers run in registration order")
    func registrationOrder() throws {
        var log: [Int] = []
        let engine = Engine<Int, Void> { _, _ in }
        for index in 0..<5 { try engine.on(.started) { _ in log.append(index) } }
        try engine.run([1])
        #expect(log == [0, 1, 2, 3, 4])
    }
}
