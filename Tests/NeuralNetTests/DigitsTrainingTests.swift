import Foundation
import NeuralNet
import Testing

@Suite("Training on real data")
struct DigitsTrainingTests {
    /// ../shared/data/digits.csv: header, then 64 pixels (0..16) and a label per row.
    static func loadDigits() throws -> (features: [Float], labels: [Int32]) {
        let shared =
            ProcessInfo.processInfo.environment["SWIFT_TRAIN_SHARED"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")
        let text = try String(contentsOf: shared.appendingPathComponent("data/digits.csv"), encoding: .utf8)
        var features: [Float] = []
        var labels: [Int32] = []
        for line in text.split(separator: "\n").dropFirst() {
            let values = line.split(separator: ",").map { Float($0)! }
            features += values.dropLast().map { $0 / 16 }
            labels.append(Int32(values.last!))
        }
        return (features, labels)
    }

    /// The fixed split (the first 80% of rows, the last 20% from other writers) makes one run's accuracy vary
    /// by about ±0.02 with the seed (0.89 to 0.93 measured), so the requirement is stated on the mean of five
    /// seeds, with a floor for each.
    @Test("MLP 64-128-128-10, SGD 0.05 momentum 0.9, batch 32, 10 epochs: mean test accuracy of 5 seeds >= 0.90 on digits")
    func digitsMLP() throws {
        let accuracies = try (UInt64(0)..<5).map { try trainDigits(seed: $0) }
        #expect(accuracies.reduce(0, +) / 5 >= 0.90, "accuracies \(accuracies)")
        #expect(accuracies.allSatisfy { $0 >= 0.87 }, "accuracies \(accuracies)")
    }

    func trainDigits(seed: UInt64) throws -> Double {
        let (features, labels) = try Self.loadDigits()
        #expect(labels.count == 1797)
        let trainCount = labels.count * 8 / 10
        let model = try Sequential.multilayerPerceptron(inputs: 64, hidden: [128, 128], outputs: 10, seed: seed)
        let optimizer = SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9)
        let batch = 32
        var x = [Float](repeating: 0, count: batch * 64)
        var y = [Int32](repeating: 0, count: batch)
        for epoch in 0..<10 {
            let order = CounterRandom.permutation(count: trainCount, seed: seed, stream: UInt64(epoch))
            for start in stride(from: 0, to: trainCount, by: batch) {
                let rows = order[start..<min(start + batch, trainCount)]
                for (slot, row) in rows.enumerated() {
                    x.replaceSubrange((slot * 64)..<((slot + 1) * 64), with: features[(row * 64)..<((row + 1) * 64)])
                    y[slot] = labels[row]
                }
                let logits = try model.forward(
                    Tensor(shape: [rows.count, 64], values: Array(x[0..<(rows.count * 64)])),
                    context: LayerContext(training: true, randomKey: 0))
                let (_, gradient) = try SoftmaxCrossEntropy().valueAndGradient(
                    predictions: logits, targets: Tensor(shape: [rows.count], values: y[0..<rows.count].map(Float.init)))
                try model.backward(gradient, accumulate: false, progress: nil)
                optimizer.step()
            }
        }
        let testFeatures = Array(features[(trainCount * 64)...])
        let testLabels = Array(labels[trainCount...])
        let logits = try model(Tensor(shape: [testLabels.count, 64], values: testFeatures)).values
        let predictions = Tensor(shape: [testLabels.count, 10], values: logits).argmaxRows()
        return Double(zip(predictions, testLabels).filter { $0 == Int($1) }.count) / Double(testLabels.count)
    }

    @Test("the Tensor type multiplies through BLAS")
    func tensor() {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], values: [7, 8, 9, 10, 11, 12])
        #expect(a.matmul(b) == Tensor(shape: [2, 2], values: [58, 64, 139, 154]))
        #expect((a + a)[1, 2] == 12)
        #expect(a.sum() == 21)
        #expect(Tensor(shape: [2, 3], values: [0, 5, 1, 9, 2, 3]).argmaxRows() == [1, 0])
    }
}
