import Foundation
import _Differentiation
import NeuralNet

// Differentiable operations on DTensor. Each has its derivative registered beside it; matrix products run on
// OpenBLAS (through NeuralNet's `Tensor.matmul` kernels), element-wise ones are plain loops.

/// `x · Wᵀ + b` for `x` of shape [batch, inputs], `weight` [outputs, inputs] and `bias` [outputs] (PyTorch's layout).
@differentiable(reverse)
public func dense(_ x: DTensor, weight: DTensor, bias: DTensor) -> DTensor {
    denseForward(x, weight, bias)
}

func denseForward(_ x: DTensor, _ weight: DTensor, _ bias: DTensor) -> DTensor {
    precondition(x.shape.count == 2 && weight.shape.count == 2 && x.shape[1] == weight.shape[1] && bias.count == weight.shape[0],
                 "dense: input \(x.shape), weight \(weight.shape), bias \(bias.shape)")
    let rows = x.shape[0], outputs = weight.shape[0], inputs = x.shape[1]
    var result = [Float](unsafeUninitializedCapacity: rows * outputs) { _, initialized in initialized = rows * outputs }
    x.withValues { a in
        weight.withValues { w in
            bias.withValues { b in
                result.withUnsafeMutableBufferPointer { c in
                    Kernels.broadcastRows(b.baseAddress!, c.baseAddress!, rows: rows, width: outputs)
                    BLAS.gemm(transposeA: false, transposeB: true, m: rows, n: outputs, k: inputs, a.baseAddress!, lda: inputs,
                              w.baseAddress!, ldb: inputs, beta: 1, c.baseAddress!, ldc: outputs)
                }
            }
        }
    }
    return DTensor(shape: [rows, outputs], values: result)
}

@derivative(of: dense)
public func vjpDense(_ x: DTensor, weight: DTensor, bias: DTensor)
    -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor, DTensor))
{
    let value = denseForward(x, weight, bias)
    var weightTangent = DTensor.zero, biasTangent = DTensor.zero
    return (value, { gradient in
        let rows = x.shape[0], outputs = weight.shape[0], inputs = x.shape[1]
        var inputGradient = DTensor.zero
        gradient.withValues { g in
            if !x.isConstant {
                let values = weight.withValues { w in
                    [Float](unsafeUninitializedCapacity: rows * inputs) { dx, initialized in
                        BLAS.gemm(transposeA: false, transposeB: false, m: rows, n: inputs, k: outputs, g.baseAddress!, lda: outputs,
                                  w.baseAddress!, ldb: inputs, beta: 0, dx.baseAddress!, ldc: inputs)
                        initialized = rows * inputs
                    }
                }
                inputGradient = x.deliver(DTensor(shape: x.shape, values: values))
            }
            // dW = gᵀ·x and db = Σ rows of g, straight into the arena when the model runs backward.
            func weightProduct(into destination: UnsafeMutablePointer<Float>, beta: Float) {
                x.withValues { a in
                    BLAS.gemm(transposeA: true, transposeB: false, m: outputs, n: inputs, k: rows, g.baseAddress!, lda: outputs,
                              a.baseAddress!, ldb: inputs, beta: beta, destination, ldc: inputs)
                }
            }
            func biasSum(into destination: UnsafeMutablePointer<Float>, accumulate: Bool) {
                Kernels.sumRows(g.baseAddress!, destination, rows: rows, width: outputs, accumulate: accumulate)
            }
            if let (arena, entry) = weight.arenaGradientDestination {
                arena.withUnsafeMutableBuffers { _, gradients in weightProduct(into: gradients.baseAddress! + entry.offset, beta: 1) }
                weightTangent = .zero
            } else {
                weightTangent = DTensor(shape: weight.shape, values: [Float](unsafeUninitializedCapacity: outputs * inputs) { dw, n in
                    weightProduct(into: dw.baseAddress!, beta: 0)
                    n = outputs * inputs
                })
            }
            if let (arena, entry) = bias.arenaGradientDestination {
                arena.withUnsafeMutableBuffers { _, gradients in biasSum(into: gradients.baseAddress! + entry.offset, accumulate: true) }
                biasTangent = .zero
            } else {
                biasTangent = DTensor(shape: bias.shape, values: [Float](unsafeUninitializedCapacity: outputs) { db, n in
                    biasSum(into: db.baseAddress!, accumulate: false)
                    n = outputs
                })
            }
        }
        return (inputGradient, weightTangent, biasTangent)
    })
}

/// An element-wise function and its derivative from the input and the output.
@inline(__always)
func elementwise(_ x: DTensor, _ f: (Float) -> Float) -> DTensor {
    x.withValues { DTensor(shape: x.shape, values: $0.map(f)) }
}

/// max(0, x), on the same vectorised kernels as the built-in ReLU.
@differentiable(reverse)
public func relu(_ x: DTensor) -> DTensor {
    x.withValues { input in
        DTensor(shape: x.shape, values: [Float](unsafeUninitializedCapacity: input.count) { output, initialized in
            if input.count > 0 { Kernels.reluForward(input.baseAddress!, output.baseAddress!, count: input.count) }
            initialized = input.count
        })
    }
}

@derivative(of: relu)
public func vjpRelu(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = relu(x)
    return (y, { g in
        x.deliver(y.withValues { out in g.withValues { gv in
            DTensor(shape: x.shape, values: [Float](unsafeUninitializedCapacity: out.count) { dx, initialized in
                if out.count > 0 {
                    Kernels.reluBackward(output: out.baseAddress!, outputGradient: gv.baseAddress!, inputGradient: dx.baseAddress!,
                                         count: out.count)
                }
                initialized = out.count
            })
        } })
    })
}

/// tanh(x).
@differentiable(reverse)
public func tanh(_ x: DTensor) -> DTensor { elementwise(x) { Foundation.tanh($0) } }

@derivative(of: tanh)
public func vjpTanh(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = tanh(x)
    return (y, { g in
        x.deliver(y.withValues { out in g.withValues { gv in DTensor(shape: x.shape, values: (0..<out.count).map { gv[$0] * (1 - out[$0] * out[$0]) }) } })
    })
}

/// 1 / (1 + e^-x).
@differentiable(reverse)
public func sigmoid(_ x: DTensor) -> DTensor { elementwise(x) { 1 / (1 + Foundation.exp(-$0)) } }

@derivative(of: sigmoid)
public func vjpSigmoid(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = sigmoid(x)
    return (y, { g in
        x.deliver(y.withValues { out in g.withValues { gv in DTensor(shape: x.shape, values: (0..<out.count).map { gv[$0] * out[$0] * (1 - out[$0]) }) } })
    })
}

/// Element-wise product; a tensor whose size is the other's last dimension (a scale per feature) multiplies every row.
@differentiable(reverse)
public func multiply(_ a: DTensor, _ b: DTensor) -> DTensor {
    if a.count != b.count, let (rows, row) = DTensor.broadcastRows(a, b) {
        return rows.withValues { x in row.withValues { y in DTensor(shape: rows.shape, values: (0..<x.count).map { x[$0] * y[$0 % y.count] }) } }
    }
    return a.withValues { x in b.withValues { y in DTensor(shape: a.shape, values: (0..<x.count).map { x[$0] * y[$0] }) } }
}

@derivative(of: multiply)
public func vjpMultiply(_ a: DTensor, _ b: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
    (multiply(a, b), { g in
        (a.deliver(DTensor.reduce(multiply(g, b.detached), like: a)), b.deliver(DTensor.reduce(multiply(g, a.detached), like: b)))
    })
}

/// The sum of every value, as a tensor of shape [1].
@differentiable(reverse)
public func sum(_ x: DTensor) -> DTensor { x.withValues { DTensor(shape: [1], values: [$0.reduce(0, +)]) } }

@derivative(of: sum)
public func vjpSum(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (sum(x), { g in x.deliver(DTensor(shape: x.shape, values: Array(repeating: g.values.first ?? 0, count: x.count))) })
}

/// The mean of every value, as a tensor of shape [1].
@differentiable(reverse)
public func mean(_ x: DTensor) -> DTensor { x.withValues { DTensor(shape: [1], values: [$0.reduce(0, +) / Float(Swift.max($0.count, 1))]) } }

@derivative(of: mean)
public func vjpMean(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (mean(x), { g in x.deliver(DTensor(shape: x.shape, values: Array(repeating: (g.values.first ?? 0) / Float(Swift.max(x.count, 1)), count: x.count))) })
}

/// The same values under another shape of the same size.
@differentiable(reverse)
public func reshape(_ x: DTensor, to shape: [Int]) -> DTensor { DTensor(shape: shape, values: x.values) }

@derivative(of: reshape, wrt: x)
public func vjpReshape(_ x: DTensor, to shape: [Int]) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (reshape(x, to: shape), { g in x.deliver(DTensor(shape: x.shape, values: g.values)) })
}

/// Each sample flattened: [batch, ...] → [batch, features] (before a dense layer).
public func flatten(_ x: DTensor) -> DTensor {
    DTensor(shape: [x.shape.first ?? 1, x.count / Swift.max(x.shape.first ?? 1, 1)], values: x.values)
}

@derivative(of: flatten)
public func vjpFlatten(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (flatten(x), { g in x.deliver(DTensor(shape: x.shape, values: g.values)) })
}
