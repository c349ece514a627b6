import EngineCore
import Testing

extension Event {
    static let backwardCompleted = Event("backward completed")
    static let neverRegistered = Event("never registered")
}

@Suite("Handlers: attaching, removing, scopes and custom events")
struct HandlerTests {
    @Test("handlers take extra arguments through their closure (the seed's on_training_ended(engine, data))")
    func extraArguments() throws {
        let mydata = [1, 2, 3, 4]
        var message = ""
        let engine = Engine<Int, Void> { _, _ in }
        func onTrainingEnded(_ engine: Engine<Int, Void>, _ data: [Int]) { message = "Training is ended. mydata=\(data)" }
        try engine.addEventHandler(.completed) { engine in onTrainingEnded(engine, mydata) }
        try engine.run([1])
        #expect(message == "Training is ended. mydata=[1, 2, 3, 4]")
    }

    @Test("the returned handle removes the handler; removing again is a no-op")
    func removeByHandle() throws {
        var count = 0
        let engine = Engine<Int, Void> { _, _ in }
        let handle = try engine.on(.iterationCompleted) { _ in count += 1 }
        try engine.run([1, 2])
        handle.remove()
        handle.remove()
        #expect(!engine.hasEventHandler(for: .iterationCompleted))
        try engine.run([1, 2])
        #expect(count == 2)
    }

    @Test("removing a handler that is not attached is an error")
    func removeMissing() throws {
        let engine = Engine<Int, Void> { _, _ in }
        let handle = try engine.on(.started) { _ in }
        try engine.removeEventHandler(handle)
        #expect(throws: EngineError.self) { try engine.removeEventHandler(handle) }
    }

    @Test("a handle of an OR-combined attachment removes it from every member")
    func removeGroup() throws {
        let engine = Engine<Int, Void> { _, _ in }
        let handle = try engine.on(Event.started | Event.completed) { _ in }
        #expect(engine.hasEventHandler(for: .started) && engine.hasEventHandler(for: .completed))
        handle.remove()
        #expect(!engine.hasEventHandler(for: .started) && !engine.hasEventHandler(for: .completed))
    }

    @Test("the seed's evaluate(trainer): scoped handlers log train, validation and test metrics, then vanish")
    func scopedEvaluatorLogging() throws {
        var printed: [String] = []
        let trainer = Engine<Int, Void> { _, _ in }
        let evaluator = Engine<Int, Int> { _, batch in batch }
        try evaluator.on(.completed) { engine in engine.state.metrics["acc"] = Double(engine.state.output!) / 10 }
        func logMetrics(_ engine: Engine<Int, Int>, _ title: String) {
            printed.append("Epoch: \(trainer.state.epoch) - \(title) accuracy: \(engine.state.metrics["acc"]!)")
        }
        try trainer.on(.epochCompleted) { _ in
            for (title, loader) in [("train", [5]), ("validation", [7]), ("test", [9])] {
                try evaluator.withEventHandler(.completed, { engine in logMetrics(engine, title) }) {
                    try evaluator.run(loader)
                }
            }
        }
        try trainer.run([1, 2], maxEpochs: 2)
        #expect(
            printed == [
                "Epoch: 1 - train accuracy: 0.5", "Epoch: 1 - validation accuracy: 0.7", "Epoch: 1 - test accuracy: 0.9",
                "Epoch: 2 - train accuracy: 0.5", "Epoch: 2 - validation accuracy: 0.7", "Epoch: 2 - test accuracy: 0.9"
            ])
        #expect(evaluator.handlerCount(for: .completed) == 1)
    }

    @Test("a custom event fired from the process function runs its handlers, with filters on its own count")
    func customEvents() throws {
        var log: [Int] = []
        let engine = Engine<Int, Int> { engine, batch in
            try engine.fireEvent(.backwardCompleted)
            return batch
        }
        engine.registerEvents(.backwardCompleted)
        try engine.on(Event.backwardCompleted(every: 2)) { engine in log.append(engine.state.iteration) }
        try engine.run(Array(0..<6))
        #expect(log == [2, 4, 6])
    }

    @Test("a custom event can map to the iteration counter of its engine only")
    func customEventCounter() throws {
        var log: [Int] = []
        let engine = Engine<Int, Int> { engine, batch in
            if batch % 2 == 0 { try engine.fireEvent(.backwardCompleted) }
            return batch
        }
        engine.registerEvents(.backwardCompleted, counter: .iteration)
        try engine.on(Event.backwardCompleted(every: 3)) { engine in log.append(engine.state.iteration) }
        try engine.run(Array(0..<12))
        #expect(log == [3, 9])
        let other = Engine<Int, Int> { _, batch in batch }
        #expect(!other.isRegistered(.backwardCompleted))
    }

    @Test("attaching to or firing an unregistered event is an error")
    func unregistered() throws {
        let engine = Engine<Int, Void> { _, _ in }
        #expect(throws: EngineError.unregisteredEvent("never registered")) {
            try engine.on(.neverRegistered) { _ in }
        }
        #expect(throws: EngineError.unregisteredEvent("never registered")) { try engine.fireEvent(.neverRegistered) }
    }

    @Test("typed user storage keeps values between handlers (the seed's engine.state.new_attribute)")
    func userStorage() throws {
        let newAttribute = StateKey<Int>("new_attribute")
        let engine = Engine<Int, Void> { _, _ in }
        try engine.on(.started) { engine in engine.state[newAttribute] = 12345 }
        try engine.run([1])
        #expect(engine.state[newAttribute] == 12345)
        #expect(engine.state.storedKeys == ["new_attribute"])
    }

    @Test("handlers written against AnyEngine attach to any engine")
    func erasedHandlers() throws {
        var epochs: [Int] = []
        let engine = Engine<String, Int> { _, batch in batch.count }
        try engine.addEventHandler(Event.epochCompleted, erased: { any in epochs.append(any.engineState.epoch) })
        try engine.run(["x"], maxEpochs: 3)
        #expect(epochs == [1, 2, 3])
    }
}
