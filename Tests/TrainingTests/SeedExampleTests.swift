import EngineCore
import Testing
import Training

/// The examples of Ignite's concepts page (the seed), written in Swift.
@Suite("The seed's metric examples")
struct SeedExampleTests {
    /// A "model" that predicts class (x mod 3) with scores, wrong whenever x is a multiple of 5.
    static func predict(_ x: [Int]) -> (scores: [Float], labels: [Int32]) {
        var scores: [Float] = []
        var labels: [Int32] = []
        for value in x {
            let predicted = value % 5 == 0 ? (value + 1) % 3 : value % 3
            for c in 0..<3 { scores.append(c == predicted ? 1 : 0) }
            labels.append(Int32(value % 3))
        }
        return (scores, labels)
    }

    static let batches = [Array(1...10), Array(11...20), Array(21...24)]
    static let expectedAccuracy = Double(24 - 4) / 24

    @Test("output as a tuple (loss, y_pred, y): Accuracy(output_transform: lambda x: [x[1], x[2]])")
    func tupleOutput() throws {
        let trainer = Engine<[Int], (Double, [Float], [Int32])> { _, batch in
            let (scores, labels) = Self.predict(batch)
            return (0.5, scores, labels)
        }
        var printed: [String] = []
        try trainer.on(.epochCompleted) { engine in printed.append("Epoch \(engine.state.epoch): train_loss = \(engine.state.output!.0)") }
        var holders: [([Float], [Int32])] = []
        try Accuracy().attach(to: trainer, name: "acc") { output in
            holders.append((output.1, output.2))
            let last = holders.count - 1
            return ClassificationBatch(scores: holders[last].0, labels: holders[last].1, count: output.2.count, classes: 3)
        }
        try trainer.run(Self.batches, maxEpochs: 2)
        #expect(trainer.state.metrics["acc"] == Self.expectedAccuracy)
        #expect(printed == ["Epoch 1: train_loss = 0.5", "Epoch 2: train_loss = 0.5"])
    }

    @Test("output as a dictionary {loss, y_pred, y}: Accuracy(output_transform: lambda x: [x['y_pred'], x['y']])")
    func dictionaryOutput() throws {
        let trainer = Engine<[Int], [String: Any]> { _, batch in
            let (scores, labels) = Self.predict(batch)
            return ["loss": 0.25, "y_pred": scores, "y": labels]
        }
        let accuracy = Accuracy()
        try trainer.on(.epochStarted) { _ in accuracy.reset() }
        try trainer.on(.iterationCompleted) { engine in
            let output = engine.state.output!
            let scores = output["y_pred"] as! [Float]
            let labels = output["y"] as! [Int32]
            accuracy.update(ClassificationBatch(scores: scores, labels: labels, count: labels.count, classes: 3))
        }
        try trainer.on(.epochCompleted) { engine in engine.state.metrics["acc"] = try accuracy.compute() }
        try trainer.run(Self.batches)
        #expect(trainer.state.metrics["acc"] == Self.expectedAccuracy)
        #expect(trainer.state.output?["loss"] as? Double == 0.25)
    }

    @Test("evaluate(trainer): an evaluator with Accuracy runs on train, validation and test with scoped log handlers")
    func evaluateEachEpoch() throws {
        let trainer = Engine<[Int], Double> { _, _ in 0 }
        let evaluator = Engine<[Int], (scores: [Float], labels: [Int32])> { _, batch in Self.predict(batch) }
        var current: (scores: [Float], labels: [Int32]) = ([], [])
        try Accuracy().attach(to: evaluator, name: "acc", usage: .runWise) { output in
            current = output
            return ClassificationBatch(scores: current.scores, labels: current.labels, count: output.labels.count, classes: 3)
        }
        var log: [String] = []
        func logMetrics(_ engine: Engine<[Int], (scores: [Float], labels: [Int32])>, _ title: String) {
            log.append("Epoch: \(trainer.state.epoch) - \(title) accuracy: \(engine.state.metrics["acc"]!)")
        }
        let loaders = [("train", [Array(1...10)]), ("validation", [Array(11...15)]), ("test", [Array(16...18)])]
        try trainer.on(.epochCompleted) { _ in
            for (title, loader) in loaders {
                try evaluator.withEventHandler(.completed, { logMetrics($0, title) }) { try evaluator.run(loader) }
            }
        }
        try trainer.run([[0]], maxEpochs: 2)
        #expect(
            log == [
                "Epoch: 1 - train accuracy: 0.8", "Epoch: 1 - validation accuracy: 0.8", "Epoch: 1 - test accuracy: 1.0",
                "Epoch: 2 - train accuracy: 0.8", "Epoch: 2 - validation accuracy: 0.8", "Epoch: 2 - test accuracy: 1.0"
            ])
    }
}
