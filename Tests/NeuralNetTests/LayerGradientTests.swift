import Foundation
import NeuralNet
import Testing

@Suite("Every layer's gradients match finite differences of a float64 reference")
struct LayerGradientTests {
    static let seeds: [UInt64] = [1, 2, 3]

    @Test("Linear", arguments: seeds)
    func linear(seed: UInt64) throws {
        let check = GradientCheck(
            makeLayer: { Linear(inputs: 5, outputs: 4) }, inputShape: [5], batch: 3,
            reference: Reference.linear(inputs: 5, outputs: 4, batch: 3))
        #expect(try check.maximumRelativeError(seed: seed) < GradientCheck.tolerance)
    }

    @Test("ReLU, Tanh and Sigmoid", arguments: seeds)
    func activations(seed: UInt64) throws {
        let cases: [(() -> any KernelLayer, (Double) -> Double)] = [
            ({ ReLU() }, { max($0, 0) }), ({ Tanh() }, { tanh($0) }), ({ Sigmoid() }, { 1 / (1 + exp(-$0)) })
        ]
        for (make, f) in cases {
            let check = GradientCheck(makeLayer: make, inputShape: [6], batch: 4, reference: Reference.elementwise(f))
            #expect(try check.maximumRelativeError(seed: seed) < GradientCheck.tolerance)
        }
    }

    @Test("Conv2D (im2col + sgemm, same padding)", arguments: seeds)
    func convolution(seed: UInt64) throws {
        let check = GradientCheck(
            makeLayer: { Conv2D(inputChannels: 2, outputChannels: 3, kernel: 3) },
            inputShape: [2, 5, 4], batch: 2,
            reference: Reference.convolution(channels: 2, filters: 3, kernel: 3, height: 5, width: 4, batch: 2))
        #expect(try check.maximumRelativeError(seed: seed) < GradientCheck.tolerance)
    }

    @Test("MaxPool2D", arguments: seeds)
    func maxPool(seed: UInt64) throws {
        let check = GradientCheck(
            makeLayer: { MaxPool2D(size: 2) }, inputShape: [2, 4, 6], batch: 2,
            reference: Reference.maxPool(channels: 2, height: 4, width: 6, size: 2, batch: 2))
        #expect(try check.maximumRelativeError(seed: seed) < GradientCheck.tolerance)
    }

    @Test("Flatten is the identity on values")
    func flatten() throws {
        let check = GradientCheck(makeLayer: { Flatten() }, inputShape: [2, 3, 2], batch: 2, reference: Reference.elementwise { $0 })
        #expect(try check.maximumRelativeError(seed: 5) < GradientCheck.tolerance)
    }

    @Test("Dropout: the mask is a function of the key; gradients flow through kept values only", arguments: seeds)
    func dropout(seed: UInt64) throws {
        let probe = Dropout(probability: 0.4)
        _ = try probe.configure(inputShape: [50])
        var ones = [Float](repeating: 1, count: 100)
        var mask = [Float](repeating: 0, count: 100)
        ones.withUnsafeMutableBufferPointer { x in
            mask.withUnsafeMutableBufferPointer { y in probe.forward(x.baseAddress!, y.baseAddress!, batch: 2, training: true, randomKey: seed) }
        }
        let kept = mask.map { Double($0) * 0.6 }
        #expect(kept.allSatisfy { abs($0) < 1e-6 || abs($0 - 1) < 1e-6 })
        #expect((40...80).contains(Int(kept.reduce(0, +))), "about 60 of 100 kept")
        let check = GradientCheck(
            makeLayer: { Dropout(probability: 0.4) }, inputShape: [50], batch: 2,
            reference: { x, _ in zip(x, kept).map { $0 * $1 / 0.6 } })
        #expect(try check.maximumRelativeError(seed: seed) < GradientCheck.tolerance)
    }

    @Test("the losses: softmax cross-entropy and mean squared error", arguments: seeds)
    func losses(seed: UInt64) throws {
        var random = CounterRandom(seed: seed, stream: 3)
        let batch = 4
        let classes = 5
        let logits = (0..<(batch * classes)).map { _ in Double(random.nextUniform() * 6 - 3) }
        let labels = (0..<batch).map { _ in Int32(random.nextInt(below: classes)) }
        func reference(_ z: [Double]) -> Double {
            (0..<batch).reduce(0.0) { total, n in
                let row = Array(z[(n * classes)..<((n + 1) * classes)])
                let top = row.max()!
                let logSum = log(row.reduce(0) { $0 + exp($1 - top) }) + top
                return total + (logSum - row[Int(labels[n])]) / Double(batch)
            }
        }
        let (value, gradientTensor) = try SoftmaxCrossEntropy().valueAndGradient(
            predictions: Tensor(shape: [batch, classes], values: logits.map(Float.init)),
            targets: Tensor(shape: [batch], values: labels.map(Float.init)))
        let gradient = gradientTensor.values
        #expect(abs(Double(value) - reference(logits)) < 1e-5)
        for index in logits.indices {
            var plus = logits
            var minus = logits
            plus[index] += 1e-6
            minus[index] -= 1e-6
            let numeric = (reference(plus) - reference(minus)) / 2e-6
            #expect(abs(Double(gradient[index]) - numeric) < 1e-5, "logit \(index)")
        }
        let predictions = (0..<7).map { _ in random.nextUniform() }
        let targets = (0..<7).map { _ in random.nextUniform() }
        let (mse, squareGradientTensor) = try MeanSquaredError().valueAndGradient(
            predictions: Tensor(shape: [7], values: predictions), targets: Tensor(shape: [7], values: targets))
        let squareGradient = squareGradientTensor.values
        let expected = zip(predictions, targets).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / 7
        #expect(abs(Double(mse) - expected) < 1e-6)
        for index in 0..<7 { #expect(abs(Double(squareGradient[index]) - 2 * Double(predictions[index] - targets[index]) / 7) < 1e-6) }
    }
}
