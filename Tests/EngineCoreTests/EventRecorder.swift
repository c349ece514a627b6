import EngineCore

/// Records every standard event an engine fires as "NAME(epoch,iteration)", with the batch after GET_BATCH_COMPLETED.
final class EventRecorder<Batch, Output> {
    var log: [String] = []

    init(_ engine: Engine<Batch, Output>, events: [Event] = Event.standardEvents) throws {
        for event in events {
            try engine.addEventHandler(event) { [unowned self] engine in
                var entry = "\(event.name)(\(engine.state.epoch),\(engine.state.iteration))"
                if event == .getBatchCompleted, let batch = engine.state.batch { entry += "[\(batch)]" }
                log.append(entry)
            }
        }
    }
}

/// A sequence that can be iterated once and has no count, like a Python generator.
final class OnePass<Element>: Sequence, IteratorProtocol {
    var elements: [Element]
    var position = 0
    init(_ elements: [Element]) { self.elements = elements }
    func next() -> Element? {
        guard position < elements.count else { return nil }
        defer { position += 1 }
        return elements[position]
    }
}
