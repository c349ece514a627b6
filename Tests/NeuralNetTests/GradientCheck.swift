import NeuralNet
import Testing

/// Checks a layer's analytic gradients (parameters and input) against central finite differences of an
/// independent float64 reference: loss = Σ g ⊙ f(x, θ), with x, θ and g drawn fresh for every seed.
struct GradientCheck {
    /// Bound on |analytic − numerical| / max(|numerical|, 0.01).
    static let tolerance = 2e-3

    let makeLayer: () -> any KernelLayer
    let inputShape: [Int]
    let batch: Int
    /// The float64 reference: the layer's output for an input batch and flat parameters (declaration order).
    let reference: (_ input: [Double], _ parameters: [Double]) -> [Double]

    func maximumRelativeError(seed: UInt64) throws -> Double {
        let layer = makeLayer()
        let outputShape = try layer.configure(inputShape: inputShape)
        let arena = ParameterArena(layout: layer.parameterShapes.map { ($0.suffix, $0.shape) })
        layer.bind(parameters: arena.entries.map(arena.parameters(of:)), gradients: arena.entries.map(arena.gradients(of:)))
        var random = CounterRandom(seed: seed, stream: 1)
        layer.initialize(using: &random)
        for index in arena.parameters.indices { arena.parameters[index] = random.nextUniform() * 2 - 1 }
        let inputCount = batch * inputShape.reduce(1, *)
        let outputCount = batch * outputShape.reduce(1, *)
        let input = (0..<inputCount).map { _ in random.nextUniform() * 2 - 1 }
        let weights = (0..<outputCount).map { _ in random.nextUniform() * 2 - 1 }
        var output = [Float](repeating: 0, count: outputCount)
        var inputGradient = [Float](repeating: 0, count: inputCount)
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                layer.forward(x.baseAddress!, y.baseAddress!, batch: batch, training: true, randomKey: seed)
            }
        }
        input.withUnsafeBufferPointer { x in
            output.withUnsafeBufferPointer { y in
                weights.withUnsafeBufferPointer { g in
                    inputGradient.withUnsafeMutableBufferPointer { dx in
                        layer.backward(
                            input: x.baseAddress!, output: y.baseAddress!, outputGradient: g.baseAddress!,
                            inputGradient: dx.baseAddress!, batch: batch, accumulate: false)
                    }
                }
            }
        }
        let parameters = Array(arena.parameters).map(Double.init)
        let x = input.map(Double.init)
        let g = weights.map(Double.init)
        let forwardMatches = zip(reference(x, parameters), output).allSatisfy { abs($0 - Double($1)) <= 1e-4 * max(1, abs($0)) }
        guard forwardMatches else { return .infinity }
        func loss(_ x: [Double], _ p: [Double]) -> Double { zip(reference(x, p), g).reduce(0) { $0 + $1.0 * $1.1 } }
        let h = 1e-6
        var worst = 0.0
        func compare(_ analytic: Float, _ numeric: Double) {
            worst = max(worst, abs(Double(analytic) - numeric) / max(abs(numeric), 1e-2))
        }
        for index in parameters.indices {
            var plus = parameters
            var minus = parameters
            plus[index] += h
            minus[index] -= h
            compare(arena.gradients[index], (loss(x, plus) - loss(x, minus)) / (2 * h))
        }
        for index in x.indices {
            var plus = x
            var minus = x
            plus[index] += h
            minus[index] -= h
            compare(inputGradient[index], (loss(plus, parameters) - loss(minus, parameters)) / (2 * h))
        }
        return worst
    }
}

/// Float64 reference implementations of the layers, written independently of the library.
enum Reference {
    static func linear(inputs: Int, outputs: Int, batch: Int) -> ([Double], [Double]) -> [Double] {
        { x, p in
            var y = [Double](repeating: 0, count: batch * outputs)
            for n in 0..<batch {
                for o in 0..<outputs {
                    var sum = p[outputs * inputs + o]
                    for i in 0..<inputs { sum += x[n * inputs + i] * p[o * inputs + i] }
                    y[n * outputs + o] = sum
                }
            }
            return y
        }
    }

    static func elementwise(_ f: @escaping (Double) -> Double) -> ([Double], [Double]) -> [Double] { { x, _ in x.map(f) } }

    static func convolution(channels: Int, filters: Int, kernel: Int, height: Int, width: Int, batch: Int)
        -> ([Double], [Double]) -> [Double]
    {
        let padding = kernel / 2
        let outH = height + 2 * padding - kernel + 1
        let outW = width + 2 * padding - kernel + 1
        return { x, p in
            var y = [Double](repeating: 0, count: batch * filters * outH * outW)
            for n in 0..<batch {
                for f in 0..<filters {
                    for oy in 0..<outH {
                        for ox in 0..<outW {
                            var sum = p[filters * channels * kernel * kernel + f]
                            for c in 0..<channels {
                                for ky in 0..<kernel {
                                    for kx in 0..<kernel {
                                        let iy = oy + ky - padding
                                        let ix = ox + kx - padding
                                        guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                        sum +=
                                            x[((n * channels + c) * height + iy) * width + ix]
                                            * p[((f * channels + c) * kernel + ky) * kernel + kx]
                                    }
                                }
                            }
                            y[((n * filters + f) * outH + oy) * outW + ox] = sum
                        }
                    }
                }
            }
            return y
        }
    }

    static func maxPool(channels: Int, height: Int, width: Int, size: Int, batch: Int) -> ([Double], [Double]) -> [Double] {
        { x, _ in
            var y: [Double] = []
            for plane in 0..<(batch * channels) {
                for oy in 0..<(height / size) {
                    for ox in 0..<(width / size) {
                        var best = -Double.infinity
                        for dy in 0..<size {
                            for dx in 0..<size { best = max(best, x[plane * height * width + (oy * size + dy) * width + ox * size + dx]) }
                        }
                        y.append(best)
                    }
                }
            }
            return y
        }
    }
}
