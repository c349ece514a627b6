import Foundation
import NeuralNet
import Testing

@Suite("Models, optimizers and the arena")
struct ModelTests {
    @Test("an arena without parameters has no gradients either")
    func emptyArena() {
        let arena = ParameterArena(layout: [])
        #expect(arena.count == 0 && arena.gradientValues.isEmpty && arena.parameterValues.isEmpty)
    }

    @Test("a tiny network's forward, one SGD step and one Adam step equal values worked out in float64")
    func knownAnswers() throws {
        let model = try Sequential([Linear(inputs: 2, outputs: 2), ReLU(), Linear(inputs: 2, outputs: 2)], inputShape: [2], seed: 0)
        let parameters: [Float] = [0.5, -0.25, 0.125, 0.75, 0.1, -0.2, 1.0, -1.0, 0.5, 0.25, 0.0, 0.05]
        _ = model.arena.parameters.update(fromContentsOf: parameters)
        let input: [Float] = [1, 2]
        let logits = try model.forward(Tensor(shape: [1, 2], values: input), context: LayerContext(training: true, randomKey: 0)).values
        // hidden = relu([0.5 - 0.5 + 0.1, 0.125 + 1.5 - 0.2]) = [0.1, 1.425]
        // logits = [0.1 - 1.425 + 0, 0.05 + 0.35625 + 0.05] = [-1.325, 0.45625]
        #expect(abs(logits[0] - -1.325) < 1e-6 && abs(logits[1] - 0.45625) < 1e-6)
        let (loss, gradient) = try SoftmaxCrossEntropy().valueAndGradient(
            predictions: Tensor(shape: [1, 2], values: logits),
            targets: Tensor(shape: [1], values: [1]))
        let p0 = 1 / (1 + exp(0.45625 + 1.325))
        #expect(abs(Double(loss) - -log(1 - p0)) < 1e-6)
        try model.backward(gradient, accumulate: false, progress: nil)
        // dL/dz = softmax − onehot(1) = [p0, p1 − 1] = [p0, −p0]; dW2 = dz ⊗ hidden; db2 = dz; dh = W2ᵀ dz
        let dz = [p0, -p0]
        let hidden = [0.1, 1.425]
        let dh = [dz[0] * 1.0 + dz[1] * 0.5, dz[0] * -1.0 + dz[1] * 0.25]
        let expected: [Double] = [
            dh[0] * 1, dh[0] * 2, dh[1] * 1, dh[1] * 2, dh[0], dh[1],
            dz[0] * hidden[0], dz[0] * hidden[1], dz[1] * hidden[0], dz[1] * hidden[1], dz[0], dz[1]
        ]
        for index in expected.indices { #expect(abs(Double(model.arena.gradients[index]) - expected[index]) < 1e-6) }

        let sgd = SGD(arena: model.arena, learningRate: 0.1, momentum: 0.9)
        sgd.step()
        for index in expected.indices {
            #expect(abs(Double(model.arena.parameters[index]) - (Double(parameters[index]) - 0.1 * expected[index])) < 1e-6)
        }
        _ = model.arena.parameters.update(fromContentsOf: parameters)
        let adam = Adam(arena: model.arena, learningRate: 0.01)
        adam.step()
        for index in expected.indices {
            // First Adam step: m̂ = g, v̂ = g², so the update is lr · g / (|g| + ε).
            let g = expected[index]
            let step = 0.01 * g / (abs(g) + 1e-8)
            #expect(abs(Double(model.arena.parameters[index]) - (Double(parameters[index]) - step)) < 1e-6)
        }
    }

    @Test("SGD momentum and Nesterov follow PyTorch over several steps, Adam and AdamW too")
    func optimizerSequences() throws {
        let arena = ParameterArena(layout: [("w", [3])])
        let start: [Float] = [1, -2, 0.5]
        let gradients: [[Float]] = [[0.1, 0.2, -0.3], [0.05, -0.1, 0.2], [-0.2, 0.1, 0.1]]
        func run(_ make: (ParameterArena) -> any Optimizer) -> [Float] {
            _ = arena.parameters.update(fromContentsOf: start)
            let optimizer = make(arena)
            for g in gradients {
                _ = arena.gradients.update(fromContentsOf: g)
                optimizer.step()
            }
            return Array(arena.parameters)
        }
        func reference(nesterov: Bool, decay: Double) -> [Double] {
            var p = start.map(Double.init)
            var v = [0.0, 0, 0]
            for (step, g) in gradients.enumerated() {
                for i in 0..<3 {
                    let d = Double(g[i]) + decay * p[i]
                    v[i] = step == 0 ? d : 0.9 * v[i] + d
                    p[i] -= 0.1 * (nesterov ? d + 0.9 * v[i] : v[i])
                }
            }
            return p
        }
        for (nesterov, decay) in [(false, 0.0), (true, 0.0), (false, 0.01)] {
            let ours = run { SGD(arena: $0, learningRate: 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: decay) }
            for (a, b) in zip(ours, reference(nesterov: nesterov, decay: decay)) { #expect(abs(Double(a) - b) < 1e-6) }
        }
        func adamReference(decoupled: Bool, decay: Double) -> [Double] {
            var p = start.map(Double.init)
            var m = [0.0, 0, 0]
            var v = [0.0, 0, 0]
            for (step, g) in gradients.enumerated() {
                let t = Double(step + 1)
                for i in 0..<3 {
                    if decoupled { p[i] *= 1 - 0.01 * decay }
                    let d = Double(g[i]) + (decoupled ? 0 : decay * p[i])
                    m[i] = 0.9 * m[i] + 0.1 * d
                    v[i] = 0.999 * v[i] + 0.001 * d * d
                    p[i] -= 0.01 * (m[i] / (1 - pow(0.9, t))) / ((v[i] / (1 - pow(0.999, t))).squareRoot() + 1e-8)
                }
            }
            return p
        }
        // (decay 0.05: with 0.1 the second element's first gradient is exactly 0 in float64 but not in Float32,
        // where Adam's normalised step amplifies the difference.)
        let adam = run { Adam(arena: $0, learningRate: 0.01, weightDecay: 0.05) }
        for (a, b) in zip(adam, adamReference(decoupled: false, decay: 0.05)) { #expect(abs(Double(a) - b) < 1e-5) }
        let adamW = run { AdamW(arena: $0, learningRate: 0.01, weightDecay: 0.1) }
        for (a, b) in zip(adamW, adamReference(decoupled: true, decay: 0.1)) { #expect(abs(Double(a) - b) < 1e-5) }
    }

    @Test("optimizer state saved and restored gives identical subsequent steps", arguments: ["sgd", "adam"])
    func optimizerStateRoundTrip(kind: String) throws {
        func make(_ arena: ParameterArena) -> any Optimizer {
            kind == "sgd" ? SGD(arena: arena, learningRate: 0.1, momentum: 0.9) : Adam(arena: arena, learningRate: 0.01)
        }
        let a = ParameterArena(layout: [("w", [4])])
        let b = ParameterArena(layout: [("w", [4])])
        let first = make(a)
        for step in 0..<3 {
            _ = a.gradients.update(fromContentsOf: (0..<4).map { Float($0 - step) * 0.1 })
            first.step()
        }
        _ = b.parameters.update(fromContentsOf: Array(a.parameters))
        let second = make(b)
        try second.loadState(tensors: first.stateTensors(), scalars: first.stateScalars())
        for arena in [a, b] { _ = arena.gradients.update(fromContentsOf: [0.3, -0.2, 0.1, 0.05]) }
        first.step()
        second.step()
        #expect(Array(a.parameters) == Array(b.parameters))
        #expect(throws: ParameterError.self) { try second.loadState(tensors: [], scalars: first.stateScalars()) }
    }

    @Test("the same seed gives the same parameters bit for bit; another seed does not")
    func seededInitialisation() throws {
        let a = try Sequential.multilayerPerceptron(inputs: 64, hidden: [32], outputs: 10, seed: 42)
        let b = try Sequential.multilayerPerceptron(inputs: 64, hidden: [32], outputs: 10, seed: 42)
        let c = try Sequential.multilayerPerceptron(inputs: 64, hidden: [32], outputs: 10, seed: 43)
        #expect(Array(a.arena.parameters).map(\.bitPattern) == Array(b.arena.parameters).map(\.bitPattern))
        #expect(Array(a.arena.parameters) != Array(c.arena.parameters))
        let bound = 1 / Float(64).squareRoot()
        #expect(a.arena.parameters(of: a.arena.entries[0]).allSatisfy { abs($0) <= bound })
    }

    @Test("the arena names parameters, splits into reverse-order buckets and refuses a wrong shape by name")
    func arena() throws {
        let model = try Sequential.multilayerPerceptron(inputs: 100, hidden: [200, 50], outputs: 10, seed: 1)
        #expect(model.arena.entries.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        #expect(model.arena.entries[2].shape == [50, 200])
        let buckets = model.arena.buckets(firstBucketBytes: 4 * 600, bucketBytes: 4 * 15_000)
        #expect(buckets.first?.upperBound == model.arena.count)
        #expect(buckets.last?.lowerBound == 0)
        for (a, b) in zip(buckets, buckets.dropFirst()) { #expect(a.lowerBound == b.upperBound) }
        // Reverse order: the last layer (510 values) is below the first bucket's 600, so 2.weight joins it;
        // then 0.bias and 0.weight (20,200 values) fill the second.
        #expect(buckets == [model.arena.entries[2].offset..<model.arena.count, 0..<model.arena.entries[2].offset])
        var named = model.arena.namedParameters()
        named[2].shape = [200, 50]
        #expect(throws: ParameterError.shapeMismatch(name: "2.weight", expected: [50, 200], found: [200, 50])) {
            try model.arena.load(named: named)
        }
        #expect(throws: ParameterError.missing(name: "0.weight")) { try model.arena.load(named: Array(named.dropFirst())) }
    }

    @Test("backward reports gradient readiness from the last layer to the first, with accumulation")
    func gradientReadiness() throws {
        let model = try Sequential.multilayerPerceptron(inputs: 4, hidden: [3], outputs: 2, seed: 1)
        let input: [Float] = [0.1, 0.2, 0.3, 0.4, -0.1, 0.5, 0.2, 0.0]
        var offsets: [Int] = []
        let gradient: [Float] = [0.1, -0.1, 0.2, -0.2]
        _ = try model.forward(Tensor(shape: [2, 4], values: input), context: LayerContext(training: true, randomKey: 0))
        try model.backward(Tensor(shape: [2, 2], values: gradient), accumulate: false) { offsets.append($0) }
        #expect(offsets == [15, 15, 0])
        let once = Array(model.arena.gradients)
        try model.backward(Tensor(shape: [2, 2], values: gradient), accumulate: true, progress: nil)
        #expect(zip(Array(model.arena.gradients), once).allSatisfy { abs($0 - 2 * $1) < 1e-6 })
    }
}
