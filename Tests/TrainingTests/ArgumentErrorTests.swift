import EngineCore
import NeuralNet
import Testing
import Training

/// What a caller's data or arguments can cause is a thrown, typed error naming the argument: never a trap.
@Suite("Arguments and data a caller can get wrong")
struct ArgumentErrorTests {
    @Test("constructors refuse impossible arguments, naming them")
    func constructors() throws {
        let trainer = Engine<Int, Int> { _, batch in batch }
        let data = Dataset(features: [0, 1, 2, 3], featureCount: 1, labels: [0, 1, 0, 1], classNames: ["a", "b"])
        let sampler = DistributedSampler(count: 4, shuffle: false)
        #expect(throws: ArgumentError("DataLoader(batchSize:)", 0, expected: "at least 1")) {
            try DataLoader(dataset: data, batchSize: 0, sampler: sampler)
        }
        #expect(throws: ArgumentError.self) { try DataLoader(dataset: data, batchSize: 2, sampler: DistributedSampler(count: 5)) }
        #expect(throws: ArgumentError("EarlyStopping(patience:)", 0, expected: "at least 1")) {
            try EarlyStopping(patience: 0, scoreFunction: { _ in 0 }, trainer: trainer)
        }
        #expect(throws: ArgumentError.self) { try EarlyStopping(patience: 1, scoreFunction: { _ in 0 }, trainer: trainer, minDelta: -1) }
        for norm in [0, -1, Double.nan, .infinity] { #expect(throws: ArgumentError.self) { try GradientClipping(maxNorm: norm) } }
        #expect(throws: ArgumentError.self) { try ConfusionMatrix(classes: 1) }
        #expect(throws: ArgumentError.self) { try PrecisionRecall(.f1, classes: 0) }
        #expect(throws: ArgumentError.self) { try TopKAccuracy(k: 0) }
        #expect(throws: ArgumentError.self) { try RunningAverage(alpha: 1) }
        #expect(throws: ArgumentError.self) { try TokenLoss(vocabulary: 0) }
    }

    @Test("layers made with impossible sizes fail the model's construction with a LayerError naming them")
    func layers() {
        for layers in [
            [Linear(inputs: 4, outputs: 0)], [Dropout(probability: 1)], [Dropout(probability: -0.5)],
            [Conv2D(inputChannels: 1, outputChannels: 2, kernel: 0)] as [any Layer]
        ] {
            let shape = layers.first is Conv2D ? [1, 4, 4] : [4]
            #expect(throws: LayerError.self) { try Sequential(layers, inputShape: shape, seed: 0) }
        }
        #expect(throws: LayerError.self) { try Sequential([MaxPool2D(size: 0)], inputShape: [1, 4, 4], seed: 0) }
    }

    @Test("metrics given labels outside the classes or scores of another class count throw; the matrix leaves such targets out")
    func metricData() throws {
        let matrix = try ConfusionMatrix(classes: 3)
        // Ignite's ConfusionMatrix leaves targets outside 0..<classes out (an ignored index, -1).
        try matrix.update(ClassificationBatch(scores: [1, 0, 0, 0, 1, 0, 0, 0, 1], labels: [0, -1, 7], count: 3, classes: 3))
        #expect(matrix.sums.reduce(0, +) == 1)
        #expect(throws: MetricError.self) {
            try matrix.update(ClassificationBatch(scores: [1, 0, 0, 0], labels: [0, 1], count: 2, classes: 2))
        }
        #expect(throws: MetricError.self) {
            try matrix.update(ClassificationBatch(scores: [1, 0], labels: [0, 1], count: 2, classes: 3))
        }
        let recall = try PrecisionRecall(.recall, classes: 2)
        #expect(throws: MetricError.self) {
            try recall.update(ClassificationBatch(scores: [1, 0, 0, 1, 1, 1], labels: [0, 1], count: 2, classes: 3))
        }
        let top = try TopKAccuracy(k: 1)
        #expect(throws: MetricError.self) { try top.update(ClassificationBatch(scores: [1, 0], labels: [5], count: 1, classes: 2)) }
        #expect(throws: MetricError.self) { try top.update(ClassificationBatch(scores: [1, 0], labels: [-2], count: 1, classes: 2)) }
        let tokens = try TokenLoss(vocabulary: 4)
        #expect(throws: MetricError.self) {
            try tokens.update(TokenBatch(logits: Tensor(shape: [1, 1, 4], values: [0, 0, 0, 0]), targets: Tensor(shape: [1, 1], values: [9])))
        }
        #expect(throws: MetricError.self) {
            try tokens.update(TokenBatch(logits: Tensor(shape: [1, 1, 3], values: [0, 0, 0]), targets: Tensor(shape: [1, 1], values: [1])))
        }
    }

    @Test("optimizer state with a step count that is NaN, infinite, 1e300 or negative is refused naming it")
    func optimizerSteps() throws {
        let model = try Sequential([Linear(inputs: 2, outputs: 1)], inputShape: [2], seed: 0)
        for optimizer in [SGD(arena: model.arena, learningRate: 0.1, momentum: 0.9) as any Optimizer, Adam(arena: model.arena)] {
            let tensors = optimizer.stateTensors()
            for steps in [Double.nan, .infinity, 1e300, -1, 2.5] {
                #expect(throws: ParameterError.self) { try optimizer.loadState(tensors: tensors, scalars: ["steps": steps]) }
            }
            try optimizer.loadState(tensors: tensors, scalars: ["steps": 12])
        }
    }
}
