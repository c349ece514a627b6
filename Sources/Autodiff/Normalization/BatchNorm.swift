import NeuralNet
import _Differentiation

/// The per-channel layout of a batch norm input: [batch, channels, ...] as `outer` samples of `channels` planes of
/// `inner` values.
struct BatchNormGeometry {
    let outer: Int, channels: Int, inner: Int
    var perChannel: Int { outer * inner }

    init(_ shape: [Int], channels expected: Int) {
        ensure(
            shape.count >= 2 && shape[1] == expected,
            "batchNorm: input \(shape) is not [batch, \(expected), ...] (channels second, as in PyTorch)")
        (outer, channels, inner) = ShapeMath.split(shape, at: 1)
    }

    /// Calls `body(channel, index)` for every value of `channel`.
    @inline(__always)
    func forEach(channel: Int, _ body: (Int) -> Void) {
        for o in 0..<outer {
            let base = (o * channels + channel) * inner
            for i in 0..<inner { body(base + i) }
        }
    }
}

/// Batch normalisation over the channel axis (1) of [batch, channels] or [batch, channels, ...] (PyTorch's
/// `BatchNorm1d`/`BatchNorm2d`). While training it normalises by the batch's statistics (summed over every replica
/// when `DataParallel` synchronizes them, as `SyncBatchNorm`) and moves the running statistics by `momentum`;
/// in evaluation it uses the running statistics. `training` overrides the forward pass's mode when given.
@differentiable(reverse,wrt: (x, gamma, beta))
public func batchNorm(
    _ x: DTensor, gamma: DTensor, beta: DTensor, runningMean: ModelBuffer, runningVariance: ModelBuffer,
    momentum: Float = 0.1, epsilon: Float = 1e-5, training: Bool? = nil
) -> DTensor {
    batchNormForward(x, gamma, beta, runningMean, runningVariance, momentum, epsilon, training).output
}

/// What the backward pass of batch norm needs from its forward pass.
struct BatchNormSaved {
    let normalized: [Float]
    let inverseDeviation: [Float]
    let training: Bool
    let total: Double
}

func batchNormForward(
    _ x: DTensor, _ gamma: DTensor, _ beta: DTensor, _ runningMean: ModelBuffer, _ runningVariance: ModelBuffer,
    _ momentum: Float, _ epsilon: Float, _ training: Bool?
) -> (output: DTensor, saved: BatchNormSaved) {
    let g = BatchNormGeometry(x.shape, channels: gamma.count)
    ensure(
        beta.count == g.channels && runningMean.shape.reduce(1, *) == g.channels
            && runningVariance.shape.reduce(1, *) == g.channels, "batchNorm: parameters for \(g.channels) channels")
    let training = training ?? AutodiffContext.current.training
    var mean = [Double](repeating: 0, count: g.channels)
    var variance = [Double](repeating: 0, count: g.channels)
    var total = Double(g.perChannel)
    if training {
        // Sums and sums of squares in Double (shifted by the first value to keep them small), one replica sum.
        var statistics = [Double](repeating: 0, count: 2 * g.channels + 1)
        x.withPointer { v in
            for c in 0..<g.channels {
                var sum = 0.0
                var squares = 0.0
                g.forEach(channel: c) { index in
                    let value = Double(v[index])
                    sum += value
                    squares += value * value
                }
                statistics[c] = sum
                statistics[g.channels + c] = squares
            }
        }
        statistics[2 * g.channels] = total
        statistics = AutodiffContext.sumOverReplicas(statistics)
        total = statistics[2 * g.channels]
        ensure(total > 1, "batchNorm: training needs more than one value per channel, got \(total)")
        for c in 0..<g.channels {
            mean[c] = statistics[c] / total
            variance[c] = Swift.max(0, statistics[g.channels + c] / total - mean[c] * mean[c])
        }
        let batchMean = mean.map { Float($0) }
        let batchVariance = variance.map { Float($0 * total / (total - 1)) }
        let deferred =
            AutodiffContext.record(runningMean, batchMean, momentum: momentum)
            && AutodiffContext.record(runningVariance, batchVariance, momentum: momentum)
        if !deferred {
            runningMean.move(toward: batchMean, momentum: momentum)
            runningVariance.move(toward: batchVariance, momentum: momentum)
        }
    } else {
        runningMean.withMutableValues { for c in 0..<g.channels { mean[c] = Double($0[c]) } }
        runningVariance.withMutableValues { for c in 0..<g.channels { variance[c] = Double($0[c]) } }
    }
    let inverse = variance.map { Float(1 / ($0 + Double(epsilon)).squareRoot()) }
    var normalized = [Float](repeating: 0, count: x.count)
    let output = x.withPointer { v in
        gamma.withPointer { scale in
            beta.withPointer { shift in
                DTensor.filled(x.shape) { out in
                    for c in 0..<g.channels {
                        let m = Float(mean[c])
                        let s = inverse[c]
                        g.forEach(channel: c) { index in
                            normalized[index] = (v[index] - m) * s
                            out[index] = normalized[index] * scale[c] + shift[c]
                        }
                    }
                }
            }
        }
    }
    return (output, BatchNormSaved(normalized: normalized, inverseDeviation: inverse, training: training, total: total))
}

/// The derivative of `batchNorm`: its value and pullback, registered for `_Differentiation`.
@derivative(of: batchNorm, wrt: (x, gamma, beta))
public func vjpBatchNorm(
    _ x: DTensor, gamma: DTensor, beta: DTensor, runningMean: ModelBuffer, runningVariance: ModelBuffer,
    momentum: Float, epsilon: Float, training: Bool?
) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor, DTensor)) {
    let (output, saved) = batchNormForward(x, gamma, beta, runningMean, runningVariance, momentum, epsilon, training)
    let g = BatchNormGeometry(x.shape, channels: gamma.count)
    return (
        output,
        { gradient in
            guard !gradient.isZeroTangent else { return (.zero, .zero, .zero) }
            var dGamma = [Float](repeating: 0, count: g.channels)
            var dBeta = [Float](repeating: 0, count: g.channels)
            var dx = [Float](repeating: 0, count: x.count)
            gradient.withPointer { dy in
                gamma.withPointer { scale in
                    // Per channel: Σ dy (dBeta) and Σ dy·x̂ (dGamma), over this replica's values.
                    for c in 0..<g.channels {
                        var sum = 0.0
                        var dot = 0.0
                        g.forEach(channel: c) { index in
                            sum += Double(dy[index])
                            dot += Double(dy[index] * saved.normalized[index])
                        }
                        dBeta[c] = Float(sum)
                        dGamma[c] = Float(dot)
                    }
                    if x.isConstant { return }
                    if !saved.training {
                        for c in 0..<g.channels { g.forEach(channel: c) { index in dx[index] = dy[index] * scale[c] * saved.inverseDeviation[c] } }
                        return
                    }
                    // The input gradient needs the sums over every value the statistics came from (every replica's).
                    let sums = AutodiffContext.sumOverReplicas(dBeta.map(Double.init) + dGamma.map(Double.init))
                    for c in 0..<g.channels {
                        let meanDy = Float(sums[c] / saved.total)
                        let meanDyX = Float(sums[g.channels + c] / saved.total)
                        let factor = scale[c] * saved.inverseDeviation[c]
                        g.forEach(channel: c) { index in dx[index] = factor * (dy[index] - meanDy - saved.normalized[index] * meanDyX) }
                    }
                }
            }
            return (
                x.isConstant ? .zero : x.deliver(DTensor(shape: x.shape, values: dx)),
                gamma.deliver(DTensor(shape: gamma.shape, values: dGamma)), beta.deliver(DTensor(shape: beta.shape, values: dBeta))
            )
        }
    )
}

/// Batch normalisation with a learnt scale and shift and running statistics (PyTorch's `BatchNorm1d` for
/// [batch, features] or [batch, channels, length], `BatchNorm2d` for [batch, channels, height, width]).
/// The running statistics are model buffers: checkpointed, loaded and broadcast from rank 0 with the parameters.
public struct BatchNorm: Differentiable {
    /// [features], initially ones.
    public var gamma: DTensor
    /// [features], initially zeros.
    public var beta: DTensor
    /// The running mean, initially zeros.
    @noDerivative public let runningMean: ModelBuffer
    /// The running (unbiased) variance, initially ones.
    @noDerivative public let runningVariance: ModelBuffer
    /// How far each training batch moves the running statistics.
    @noDerivative public let momentum: Float
    /// Added to the variance before its square root.
    @noDerivative public let epsilon: Float

    /// A batch norm over `features` channels.
    public init(features: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        ensure(features > 0, "BatchNorm needs a positive number of features")
        ensure(momentum >= 0 && momentum <= 1 && epsilon > 0, "BatchNorm: momentum \(momentum) outside [0, 1] or epsilon \(epsilon) not positive")
        gamma = .constantParameter([features], 1)
        beta = .constantParameter([features], 0)
        runningMean = ModelBuffer(shape: [features], values: [Float](repeating: 0, count: features))
        runningVariance = ModelBuffer(shape: [features], values: [Float](repeating: 1, count: features))
        self.momentum = momentum
        self.epsilon = epsilon
    }

    /// The normalised input.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor {
        batchNorm(
            x, gamma: gamma, beta: beta, runningMean: runningMean, runningVariance: runningVariance, momentum: momentum,
            epsilon: epsilon)
    }
}
