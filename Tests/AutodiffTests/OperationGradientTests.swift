import Autodiff
import Foundation
import NeuralNet
import Testing
import _Differentiation

/// Every differentiable operation: its values on a known case, and its derivative against finite differences.
@Suite("Differentiable operations: values and gradients against finite differences")
struct OperationGradientTests {
    typealias Check = GradientChecking
    static func t(_ shape: [Int], _ seed: UInt64, margin: Float = 0) -> DTensor { Check.tensor(shape, seed: seed, margin: margin) }

    /// Distinct values at least 0.05 apart in a seeded order (so that a finite step never changes which is largest).
    static func distinct(_ shape: [Int], _ seed: UInt64) -> DTensor {
        var generator = CounterRandom(seed: seed, stream: 3)
        let count = shape.reduce(1, *)
        return DTensor(shape: shape, values: (0..<count).map { Float($0) * 0.05 - Float(count) * 0.025 }.shuffled(using: &generator))
    }

    @Test("element-wise arithmetic broadcasts over any leading dimensions, and its gradients sum back")
    func broadcastingArithmetic() {
        let a = DTensor(shape: [2, 1, 3], values: [1, 2, 3, 4, 5, 6])
        let b = DTensor(shape: [2, 1], values: [10, 20])
        #expect((a + b).shape == [2, 2, 3])
        #expect((a + b).values == [11, 12, 13, 21, 22, 23, 14, 15, 16, 24, 25, 26])
        #expect((a * b).values.prefix(6) == [10, 20, 30, 20, 40, 60])
        #expect((a / b).values.last == 0.3)
        let shapes: [([Int], [Int])] = [([2, 3], [2, 3]), ([2, 3], [3]), ([3], [2, 3]), ([2, 1, 3], [2, 1]), ([4, 1], [1, 3]), ([2, 3, 4], [3, 1])]
        for (first, second) in shapes {
            Check.check("add \(first) \(second)", [Self.t(first, 1), Self.t(second, 2)]) { $0[0] + $0[1] }
            Check.check("subtract \(first) \(second)", [Self.t(first, 3), Self.t(second, 4)]) { $0[0] - $0[1] }
            Check.check("multiply \(first) \(second)", [Self.t(first, 5), Self.t(second, 6)]) { $0[0] * $0[1] }
            Check.check("divide \(first) \(second)", [Self.t(first, 7), Self.t(second, 8, margin: 0.5)], step: 1e-3) { $0[0] / $0[1] }
        }
        Check.check("scale and shift", [Self.t([2, 3], 9)]) { $0[0] * 3 + 2 }
    }

    @Test("matmul: plain, transposed, batched and with a shared operand")
    func matmulGradients() {
        let a = DTensor(shape: [2, 2], values: [1, 2, 3, 4])
        let b = DTensor(shape: [2, 2], values: [5, 6, 7, 8])
        #expect(matmul(a, b).values == [19, 22, 43, 50])
        #expect(matmul(a, b, transposeA: true).values == [26, 30, 38, 44])
        #expect(matmul(a, b, transposeB: true).values == [17, 23, 39, 53])
        let cases: [([Int], [Int], Bool, Bool)] = [
            ([3, 4], [4, 5], false, false), ([4, 3], [4, 5], true, false), ([3, 4], [5, 4], false, true), ([4, 3], [5, 4], true, true),
            ([2, 3, 4], [2, 4, 5], false, false), ([2, 2, 3, 4], [2, 2, 5, 4], false, true), ([2, 3, 4], [4, 5], false, false),
            ([2, 4, 3], [4, 5], true, false), ([3, 4], [2, 4, 5], false, false), ([2, 3, 4], [5, 4], false, true)
        ]
        for (index, (first, second, ta, tb)) in cases.enumerated() {
            Check.check(
                "matmul \(first)\(ta ? "ᵀ" : "") \(second)\(tb ? "ᵀ" : "")", [Self.t(first, UInt64(index)), Self.t(second, UInt64(index + 20))]
            ) {
                matmul($0[0], $0[1], transposeA: ta, transposeB: tb)
            }
        }
    }

    @Test("shape operations: reshape, permute, transpose, slice, split, concat, stack, flatten")
    func shapeGradients() {
        let x = DTensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(transpose(x).values == [1, 4, 2, 5, 3, 6])
        #expect(permute(DTensor(shape: [1, 2, 3], values: x.values), [2, 0, 1]).shape == [3, 1, 2])
        #expect(slice(x, axis: 1, range: 1..<3).values == [2, 3, 5, 6])
        #expect(concat([x, x], axis: 0).shape == [4, 3] && concat([x, x], axis: -1).values == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
        #expect(split(x, sizes: [1, 2], axis: 1).map(\.values) == [[1, 4], [2, 3, 5, 6]])
        #expect(stack([x, x], axis: 1).shape == [2, 2, 3])
        #expect(reshape(x, to: [-1, 2]).shape == [3, 2])
        let y = Self.t([2, 3, 4], 1)
        Check.check("reshape", [y]) { reshape($0[0], to: [4, 6]) }
        Check.check("permute", [y]) { permute($0[0], [2, 0, 1]) }
        Check.check("transpose", [y]) { transpose($0[0], 0, 2) }
        Check.check("slice", [y]) { slice($0[0], axis: 1, range: 1..<3) }
        Check.check("split and concat", [y]) {
            let parts = split($0[0], sizes: [1, 3], axis: 2)
            return concat([parts[1], parts[0]], axis: 2)
        }
        Check.check("split into equal parts", [y]) {
            let parts = split($0[0], count: 2, axis: 0)
            return parts[1] * parts[0]
        }
        Check.check("concat of two inputs", [Self.t([2, 3], 2), Self.t([2, 5], 3)]) { concat([$0[0], $0[1]], axis: 1) }
        Check.check("stack", [Self.t([2, 3], 4), Self.t([2, 3], 5)]) { stack([$0[0], $0[1]], axis: 1) }
        Check.check("flatten", [y]) { flatten($0[0]) }
    }

    @Test("reductions along an axis: sum, mean, max (and of everything)")
    func reductionGradients() {
        let x = DTensor(shape: [2, 3], values: [1, 5, 3, 4, 2, 6])
        #expect(sum(x, axis: 0).values == [5, 7, 9] && sum(x, axis: 1, keepingAxis: true).shape == [2, 1])
        #expect(mean(x, axis: -1).values == [3, 4])
        #expect(max(x, axis: 1).values == [5, 6] && max(x, axis: 0).values == [4, 5, 6])
        let y = Self.t([2, 3, 4], 3)
        for axis in [0, 1, -1] {
            Check.check("sum axis \(axis)", [y]) { sum($0[0], axis: axis) }
            Check.check("mean axis \(axis)", [y]) { mean($0[0], axis: axis, keepingAxis: true) }
            Check.check("max axis \(axis)", [Self.distinct([2, 3, 4], 3)], step: 1e-3) { max($0[0], axis: axis) }
        }
        Check.check("sum", [y]) { sum($0[0]) }
        Check.check("mean", [y]) { mean($0[0]) }
    }

    @Test("activations: relu, tanh, sigmoid, GELU, SiLU, exp, log, sqrt")
    func activationGradients() {
        #expect(abs(gelu(DTensor(shape: [1], values: [1])).values[0] - 0.8413447) < 1e-6, "PyTorch's exact GELU(1)")
        #expect(abs(silu(DTensor(shape: [1], values: [1])).values[0] - 0.7310586) < 1e-6)
        #expect(relu(DTensor(shape: [2], values: [.nan, -1])).values[0].isNaN, "NaN propagates as in PyTorch")
        let x = Self.t([3, 4], 4, margin: 0.1)
        Check.check("relu", [x]) { relu($0[0]) }
        Check.check("tanh", [x]) { tanh($0[0]) }
        Check.check("sigmoid", [x]) { sigmoid($0[0]) }
        Check.check("gelu", [x]) { gelu($0[0]) }
        Check.check("silu", [x]) { silu($0[0]) }
        Check.check("exp", [x]) { exp($0[0]) }
        let positive = DTensor(shape: [3, 4], values: x.values.map { abs($0) + 0.5 })
        Check.check("log", [positive], step: 1e-3) { log($0[0]) }
        Check.check("sqrt", [positive], step: 1e-3) { sqrt($0[0]) }
    }

    @Test("softmax and log-softmax along any axis; masks and the causal mask")
    func softmaxAndMasks() {
        let x = DTensor(shape: [1, 3], values: [1, 2, 3])
        let p = softmax(x).values
        #expect(abs(p.reduce(0, +) - 1) < 1e-6 && p[2] > p[1])
        #expect(zip(logSoftmax(x).values, p).allSatisfy { abs(Foundation.exp($0) - $1) < 1e-6 })
        #expect(causalMask(queries: 2, keys: 2) == [false, true, false, false])
        let hidden = softmax(causallyMasked(DTensor(shape: [2, 2], values: [1, 5, 1, 5])))
        #expect(
            hidden.values == [1, 0, softmax(DTensor(shape: [2], values: [1, 5])).values[0], softmax(DTensor(shape: [2], values: [1, 5])).values[1]])
        let y = Self.t([2, 3, 4], 5)
        for axis in [0, 1, -1] {
            Check.check("softmax axis \(axis)", [y]) { softmax($0[0], axis: axis) }
            Check.check("logSoftmax axis \(axis)", [y]) { logSoftmax($0[0], axis: axis) }
        }
        Check.check("masked", [y]) { masked($0[0], by: [true, false, false, true], fill: 0) }
        Check.check("causal softmax", [Self.t([2, 3, 3], 6)]) { softmax(causallyMasked($0[0])) }
    }

    @Test("scaled dot-product attention and the fused self-attention agree, and both have the right gradients")
    func attentionGradients() {
        let (batch, time, width, heads) = (2, 3, 4, 2)
        let qkv = Self.t([batch, time, 3 * width], 7)
        Check.check("selfAttention causal", [qkv]) { selfAttention($0[0], heads: heads, causal: true) }
        Check.check("selfAttention", [qkv]) { selfAttention($0[0], heads: heads, causal: false) }
        // The same attention composed of the general operations: split heads, attend, merge.
        @differentiable(reverse)
        func composed(_ qkv: DTensor, causal: Bool) -> DTensor {
            let parts = split(qkv, count: 3, axis: 2)
            let q = permute(reshape(parts[0], to: [batch, time, heads, width / heads]), [0, 2, 1, 3])
            let k = permute(reshape(parts[1], to: [batch, time, heads, width / heads]), [0, 2, 1, 3])
            let v = permute(reshape(parts[2], to: [batch, time, heads, width / heads]), [0, 2, 1, 3])
            return reshape(permute(scaledDotProductAttention(q, k, v, causal: causal), [0, 2, 1, 3]), to: [batch, time, width])
        }
        for causal in [false, true] {
            let fused = selfAttention(qkv, heads: heads, causal: causal).values
            let general = composed(qkv, causal: causal).values
            #expect(zip(fused, general).allSatisfy { abs($0 - $1) < 1e-5 }, "causal \(causal)")
        }
        Check.check("scaledDotProductAttention", [Self.t([2, 3, 2], 8), Self.t([2, 4, 2], 9), Self.t([2, 4, 3], 10)]) {
            scaledDotProductAttention($0[0], $0[1], $0[2])
        }
        Check.check("scaledDotProductAttention with a mask", [Self.t([3, 2], 11), Self.t([3, 2], 12), Self.t([3, 2], 13)]) {
            scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, mask: [false, false, true, false, false, false, false, false, false])
        }
    }

    @Test("losses: cross-entropy over [batch, time, classes] with an ignore index, softmax cross-entropy, mean squared error")
    func lossGradients() {
        let logits = Self.t([2, 3, 4], 14)
        let targets = [0, 3, -100, 2, 1, -100]
        let loss = crossEntropy(logits, targets: targets).values[0]
        // By hand: the mean of -log softmax at the four counted positions.
        let logP = logSoftmax(logits).values
        let counted: [Float] = [logP[0], logP[4 + 3], logP[12 + 2], logP[16 + 1]]
        let expected: Float = -counted.reduce(0, +) / 4
        #expect(abs(loss - expected) < 1e-5)
        #expect(crossEntropy(logits, targets: Array(repeating: -100, count: 6)).values[0].isNaN, "nothing counted: NaN, as PyTorch")
        Check.check("crossEntropy", [logits]) { crossEntropy($0[0], targets: targets) }
        Check.check("softmaxCrossEntropy", [Self.t([3, 4], 15)]) { softmaxCrossEntropy($0[0], labels: [0, 3, 1]) }
        Check.check("meanSquaredError", [Self.t([3, 4], 16), Self.t([3, 4], 17)]) { meanSquaredError($0[0], $0[1]) }
    }

    @Test("layer norm over the last axis of any rank; embedding over [batch, time] indices; dropout of any rank")
    func normalizationAndEmbedding() {
        let x = Self.t([2, 3, 4], 18)
        Check.check("layerNorm rank 3", [x, Self.t([4], 19), Self.t([4], 20)]) { layerNorm($0[0], gamma: $0[1], beta: $0[2]) }
        Check.check("layerNorm rank 2", [Self.t([3, 5], 21), Self.t([5], 22), Self.t([5], 23)]) { layerNorm($0[0], gamma: $0[1], beta: $0[2]) }
        let table = Self.t([5, 3], 24)
        let tokens = [4, 0, 2, 2, 1, 4]
        let looked = embedding(tokens, table: table, indexShape: [2, 3])
        #expect(looked.shape == [2, 3, 3] && Array(looked.values[0..<3]) == Array(table.values[12..<15]))
        Check.check("embedding", [table]) { embedding(tokens, table: $0[0], indexShape: [2, 3]) }
        Check.check("dropout (evaluation: identity)", [x]) { dropout($0[0], probability: 0.3) }
    }

    @Test("conv2d with stride and padding, max, average and global pooling")
    func convolutionGradients() {
        let x = Self.t([2, 2, 5, 5], 25)
        for (stride, padding) in [(1, nil), (2, 1), (2, 0), (1, 2)] as [(Int, Int?)] {
            let output = conv2d(x, weight: Self.t([3, 2, 3, 3], 26), bias: Self.t([3], 27), stride: stride, padding: padding)
            let pad = padding ?? 1
            #expect(output.shape == [2, 3, (5 + 2 * pad - 3) / stride + 1, (5 + 2 * pad - 3) / stride + 1])
            Check.check("conv2d stride \(stride) padding \(pad)", [x, Self.t([3, 2, 3, 3], 26), Self.t([3], 27)], tolerance: 3e-2) {
                conv2d($0[0], weight: $0[1], bias: $0[2], stride: stride, padding: padding)
            }
        }
        #expect(avgPool2d(DTensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 6]), size: 2).values == [3])
        #expect(globalAvgPool2d(DTensor(shape: [1, 2, 1, 2], values: [1, 3, 5, 7])).values == [2, 6])
        Check.check("maxPool2d", [Self.distinct([2, 2, 4, 4], 28)], step: 1e-3) { maxPool2d($0[0], size: 2) }
        Check.check("maxPool2d overlapping", [Self.distinct([1, 2, 5, 5], 29)], step: 1e-3) { maxPool2d($0[0], size: 3, stride: 2) }
        Check.check("avgPool2d", [Self.t([2, 2, 4, 4], 30)]) { avgPool2d($0[0], size: 2) }
        Check.check("avgPool2d overlapping", [Self.t([1, 2, 5, 5], 31)]) { avgPool2d($0[0], size: 3, stride: 1) }
        Check.check("globalAvgPool2d", [Self.t([2, 3, 2, 2], 32)]) { globalAvgPool2d($0[0]) }
    }

    @Test("LSTM and GRU: every step's output and the final state, gradients to the input, the state in and every weight")
    func recurrentGradients() {
        let (batch, time, inputs, hidden) = (2, 3, 3, 2)
        let x = Self.t([batch, time, inputs], 33)
        let h0 = Self.t([batch, hidden], 34)
        let c0 = Self.t([batch, hidden], 35)
        Check.check(
            "lstm",
            [
                x, h0, c0, Self.t([4 * hidden, inputs], 36), Self.t([4 * hidden, hidden], 37), Self.t([4 * hidden], 38),
                Self.t([4 * hidden], 39)
            ]
        ) { v in
            let result = lstm(v[0], state: RecurrentState(hidden: v[1], cell: v[2]), weightIH: v[3], weightHH: v[4], biasIH: v[5], biasHH: v[6])
            return concat([reshape(result.output, to: [batch, time * hidden]), result.state.hidden, result.state.cell], axis: 1)
        }
        Check.check(
            "gru",
            [
                x, h0, Self.t([3 * hidden, inputs], 40), Self.t([3 * hidden, hidden], 41), Self.t([3 * hidden], 42),
                Self.t([3 * hidden], 43)
            ]
        ) { v in
            let result = gru(v[0], state: RecurrentState(hidden: v[1], cell: .zero), weightIH: v[2], weightHH: v[3], biasIH: v[4], biasHH: v[5])
            return concat([reshape(result.output, to: [batch, time * hidden]), result.state.hidden], axis: 1)
        }
    }

    @Test(
        "an LSTM over token embeddings: gradients to the table, the state in and every weight, per token (small vocabulary) and per position",
        arguments: [3, 9])
    func embeddedLSTMGradients(vocabulary: Int) {
        let (batch, time, width, hidden) = (2, 4, 3, 2)
        let tokens = [0, 2, 1, 2, 2, 0, 1, 1].map { $0 % vocabulary }
        Check.check(
            "embeddedLSTM vocabulary \(vocabulary)",
            [
                Self.t([vocabulary, width], 50), Self.t([batch, hidden], 51), Self.t([batch, hidden], 52), Self.t([4 * hidden, width], 53),
                Self.t([4 * hidden, hidden], 54), Self.t([4 * hidden], 55), Self.t([4 * hidden], 56)
            ]
        ) { v in
            let result = embeddedLSTM(
                tokens, shape: [batch, time], table: v[0], state: RecurrentState(hidden: v[1], cell: v[2]), weightIH: v[3], weightHH: v[4],
                biasIH: v[5], biasHH: v[6])
            return concat([reshape(result.output, to: [batch, time * hidden]), result.state.hidden, result.state.cell], axis: 1)
        }
    }

    @Test("the per-token LSTM equals the embedding followed by the LSTM: outputs, final state and every gradient")
    func embeddedLSTMEqualsComposition() {
        var random = CounterRandom(seed: 5, stream: 1)
        let table = Embedding(vocabulary: 7, width: 5, random: &random)
        let layer = LSTM(inputs: 5, hidden: 6, random: &random)
        let tokens = DTensor(constant: [3, 8], values: (0..<24).map { Float(($0 * 5 + 3) % 7) })
        let state = RecurrentState(hidden: Self.t([3, 6], 60), cell: Self.t([3, 6], 61))
        let weights = Check.random(3 * 8 * 6, seed: 62)
        func loss(_ fused: Bool) -> (Float, (Embedding.TangentVector, LSTM.TangentVector, RecurrentState.TangentVector)) {
            let (value, pullback) = valueWithPullback(at: table, layer, state) { table, layer, state -> DTensor in
                let result = fused ? layer(tokens: tokens, embedding: table, state: state) : layer(table(tokens), state: state)
                return sum(result.output * DTensor(shape: [3, 8, 6], values: weights)) + sum(result.state.cell)
            }
            return (value.values[0], pullback(DTensor(shape: [1], values: [1])))
        }
        let (fusedValue, fused) = loss(true)
        let (plainValue, plain) = loss(false)
        #expect(abs(fusedValue - plainValue) < 1e-5)
        func close(_ a: DTensor, _ b: DTensor, _ name: String) {
            #expect(a.values.count == b.values.count && zip(a.values, b.values).allSatisfy { abs($0 - $1) < 1e-5 }, "\(name)")
            #expect(a.values.contains { $0 != 0 }, "\(name) is not zero")
        }
        close(fused.0.table, plain.0.table, "table")
        close(fused.1.weightIH, plain.1.weightIH, "weightIH")
        close(fused.1.weightHH, plain.1.weightHH, "weightHH")
        close(fused.1.biasIH, plain.1.biasIH, "biasIH")
        close(fused.1.biasHH, plain.1.biasHH, "biasHH")
        close(fused.2.hidden, plain.2.hidden, "state.hidden")
        close(fused.2.cell, plain.2.cell, "state.cell")
    }

    @Test("an LSTM step equals the gate equations written with the general operations")
    func lstmMatchesEquations() {
        var random = CounterRandom(seed: 3, stream: 1)
        let layer = LSTM(inputs: 3, hidden: 2, random: &random)
        let x = Self.t([2, 1, 3], 44)
        let state = RecurrentState(hidden: Self.t([2, 2], 45), cell: Self.t([2, 2], 46))
        let result = layer(x, state: state)
        let gates =
            dense(reshape(x, to: [2, 3]), weight: layer.weightIH, bias: layer.biasIH)
            + dense(state.hidden, weight: layer.weightHH, bias: layer.biasHH)
        let parts = split(gates, count: 4, axis: 1)
        let cell = sigmoid(parts[1]) * state.cell + sigmoid(parts[0]) * tanh(parts[2])
        let hidden = sigmoid(parts[3]) * tanh(cell)
        #expect(zip(result.state.cell.values, cell.values).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(zip(result.output.values, hidden.values).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}

/// One differentiable strided convolution, for comparing with the built-in layer.
struct StridedConvolution: DifferentiableModel {
    var conv: Conv2DLayer
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { flatten(conv(x)) }
}

@Suite("The built-in Conv2D and the differentiable conv2d share one kernel")
struct StridedConvolutionTests {
    @Test("with stride 2 and padding 1 the built-in layer equals conv2d: outputs and every gradient")
    func builtInEqualsDifferentiable() throws {
        var random = CounterRandom(seed: 6, stream: 1)
        let model = try AutodiffModel(
            StridedConvolution(conv: Conv2DLayer(channels: 2, filters: 3, stride: 2, padding: 1, random: &random)),
            inputShape: [2, 7, 7], outputShape: [3 * 4 * 4])
        let builtIn = try Sequential(
            [Conv2D(inputChannels: 2, outputChannels: 3, kernel: 3, padding: 1, stride: 2), Flatten()],
            inputShape: [2, 7, 7], seed: 0)
        for (mine, theirs) in zip(model.arena.entries, builtIn.arena.entries) {
            try builtIn.arena.setParameter(named: theirs.name, to: try model.arena.parameter(named: mine.name))
        }
        let x = Tensor(shape: [2, 2, 7, 7], values: GradientChecking.random(196, seed: 3))
        let context = LayerContext(training: true, randomKey: 0)
        let ours = try model.forward(x, context: context)
        let theirs = try builtIn.forward(x, context: context)
        #expect(ours.shape == [2, 48] && theirs.shape == [2, 48])
        #expect(zip(ours.values, theirs.values).allSatisfy { abs($0 - $1) < 1e-5 })
        let g = Tensor(shape: [2, 48], values: GradientChecking.random(96, seed: 4))
        try model.backward(g, accumulate: false, progress: nil)
        try builtIn.backward(g, accumulate: false, progress: nil)
        #expect(zip(model.arena.gradientValues, builtIn.arena.gradientValues).allSatisfy { abs($0 - $1) < 1e-4 })
    }
}
