import NeuralNet
import Testing

/// A process uses every core it is given, and the result is a function of the seed and the configuration alone:
/// products are cut into panels by their shape, never by the thread count.
@Suite("Compute threads", .serialized)
struct ComputeThreadsTests {
    /// An MNIST-sized MLP (products large enough to be cut into panels) after `steps` SGD steps on `threads` threads.
    static func trainedParameters(threads: Int, steps: Int = 3) throws -> [Float] {
        let saved = BLAS.threadCount
        BLAS.threadCount = threads
        defer { BLAS.threadCount = saved }
        let model = try Sequential.multilayerPerceptron(inputs: 784, hidden: [512, 512], outputs: 10, seed: 4)
        let optimizer = SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9)
        var random = CounterRandom(seed: 9, stream: 2)
        for _ in 0..<steps {
            let x = Tensor(shape: [64, 784], values: (0..<(64 * 784)).map { _ in random.nextUniform() })
            let y = Tensor(shape: [64], values: (0..<64).map { _ in Float(random.nextInt(below: 10)) })
            let logits = try model.forward(x, context: LayerContext(training: true, randomKey: 0))
            let (_, gradient) = try SoftmaxCrossEntropy().valueAndGradient(predictions: logits, targets: y)
            try model.backward(gradient, accumulate: false, progress: nil)
            optimizer.step()
        }
        return Array(model.arena.parameters)
    }

    @Test("an MLP trained on 1, 2 and 4 compute threads has the same parameters, bit for bit")
    func sameBitsOnEveryThreadCount() throws {
        let one = try Self.trainedParameters(threads: 1)
        for threads in [2, 4] {
            let other = try Self.trainedParameters(threads: threads)
            #expect(one.map(\.bitPattern) == other.map(\.bitPattern), "\(threads) threads differ from one")
        }
    }

    @Test("the MLP's products are large enough to be shared: each is cut into panels that cover it exactly once")
    func panelsCoverTheProduct() {
        for (m, n, k) in [(64, 512, 784), (512, 784, 64), (64, 784, 512), (1000, 300, 300), (4096, 4096, 64), (512, 784, 8)] {
            let panels = ProductPanels(m: m, n: n, k: k)
            #expect(panels.count > 1, "\(m)x\(n)x\(k) is not shared")
            let extent = panels.alongColumns ? n : m
            let covered = (0..<panels.count).flatMap { Array(panels.range($0)) }
            #expect(covered == Array(0..<extent))
        }
        #expect(ProductPanels(m: 10, n: 10, k: 10).count == 1)
        #expect(ProductPanels(m: 64, n: 10, k: 512).count == 1)
    }

    @Test("a product over panels equals the reference sum of products within float rounding, beta = 0 ignoring NaN in C")
    func panelsComputeTheProduct() {
        let saved = BLAS.threadCount
        BLAS.threadCount = 2
        defer { BLAS.threadCount = saved }
        var random = CounterRandom(seed: 1, stream: 1)
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            for (m, n, k) in [(40, 600, 300), (600, 40, 300), (512, 300, 16)] {
                let a = (0..<(m * k)).map { _ in random.nextUniform() - 0.5 }
                let b = (0..<(k * n)).map { _ in random.nextUniform() - 0.5 }
                var c = [Float](repeating: .nan, count: m * n)
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            BLAS.gemm(
                                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, pa.baseAddress!, lda: transposeA ? m : k,
                                pb.baseAddress!, ldb: transposeB ? k : n, beta: 0, pc.baseAddress!, ldc: n)
                        }
                    }
                }
                var worst = 0.0
                for i in stride(from: 0, to: m, by: 7) {
                    for j in stride(from: 0, to: n, by: 11) {
                        var sum = 0.0
                        for l in 0..<k {
                            let x = transposeA ? a[l * m + i] : a[i * k + l]
                            let y = transposeB ? b[j * k + l] : b[l * n + j]
                            sum += Double(x) * Double(y)
                        }
                        worst = max(worst, abs(sum - Double(c[i * n + j])))
                    }
                }
                #expect(worst < 1e-4, "transposeA \(transposeA) transposeB \(transposeB) \(m)x\(n)x\(k): error \(worst)")
            }
        }
    }
}
