import Foundation
import NeuralNet
import _Differentiation

/// An element-wise function's values.
@inline(__always)
func elementwise(_ x: DTensor, _ f: (Float) -> Float) -> DTensor {
    x.withPointer { v in DTensor.filled(x.shape) { out in for index in 0..<out.count { out[index] = f(v[index]) } } }
}

/// The pullback of an element-wise function: `g · f'(x, y)` delivered to `x`.
@inline(__always)
func elementwiseGradient(_ x: DTensor, _ y: DTensor, _ g: DTensor, _ derivative: (Float, Float) -> Float) -> DTensor {
    guard !g.isZeroTangent, !x.isConstant else { return .zero }
    return x.deliver(
        x.withPointer { input in
            y.withPointer { output in
                g.withPointer { gv in
                    DTensor.filled(x.shape) { dx in for index in 0..<dx.count { dx[index] = gv[index] * derivative(input[index], output[index]) } }
                }
            }
        })
}

/// max(0, x), on the same vectorised kernels as the built-in ReLU (NaN stays NaN, as in PyTorch).
@differentiable(reverse)
public func relu(_ x: DTensor) -> DTensor {
    x.withPointer { input in
        DTensor.filled(x.shape) { output in
            if output.count > 0 { Kernels.reluForward(input, output.baseAddress!, count: output.count) }
        }
    }
}

/// The derivative of `relu`: its value and pullback, registered for `_Differentiation`.
@derivative(of: relu)
public func vjpRelu(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = relu(x)
    return (
        y,
        { g in
            guard !g.isZeroTangent else { return .zero }
            return x.deliver(
                y.withPointer { out in
                    g.withPointer { gv in
                        DTensor.filled(x.shape) { dx in
                            if dx.count > 0 { Kernels.reluBackward(output: out, outputGradient: gv, inputGradient: dx.baseAddress!, count: dx.count) }
                        }
                    }
                })
        }
    )
}

/// Applies a vectorised kernel `(input, output, count)` to every value.
@inline(__always)
func kernel(_ x: DTensor, _ apply: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> DTensor {
    x.withPointer { v in DTensor.filled(x.shape) { out in if out.count > 0 { apply(v, out.baseAddress!, out.count) } } }
}

/// tanh(x).
@differentiable(reverse)
public func tanh(_ x: DTensor) -> DTensor { kernel(x) { Kernels.tanh($0, $1, count: $2) } }

/// The derivative of `tanh`: its value and pullback, registered for `_Differentiation`.
@derivative(of: tanh)
public func vjpTanh(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = tanh(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in 1 - out * out } })
}

/// 1 / (1 + e^-x).
@differentiable(reverse)
public func sigmoid(_ x: DTensor) -> DTensor { kernel(x) { Kernels.sigmoid($0, $1, count: $2) } }

/// The derivative of `sigmoid`: its value and pullback, registered for `_Differentiation`.
@derivative(of: sigmoid)
public func vjpSigmoid(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = sigmoid(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in out * (1 - out) } })
}

/// x·Φ(x), Φ the standard normal distribution function (PyTorch's exact `GELU()`, not the tanh approximation).
@differentiable(reverse)
public func gelu(_ x: DTensor) -> DTensor { kernel(x) { Kernels.gelu($0, $1, count: $2) } }

/// The derivative of `gelu`: its value and pullback, registered for `_Differentiation`.
@derivative(of: gelu)
public func vjpGelu(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    // The derivative is computed with the value (the erf is shared), so the pullback is one product.
    let count = x.shape.reduce(1, *)
    var derivative = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    let y = x.withPointer { v in
        derivative.withUnsafeMutableBufferPointer { d in
            DTensor.filled(x.shape) { out in
                if out.count > 0 { Kernels.geluWithDerivative(v, out.baseAddress!, derivative: d.baseAddress!, count: out.count) }
            }
        }
    }
    return (
        y,
        { g in
            guard !g.isZeroTangent, !x.isConstant else { return .zero }
            return x.deliver(
                g.withPointer { gv in
                    derivative.withUnsafeBufferPointer { d in
                        DTensor.filled(x.shape) { dx in if dx.count > 0 { Kernels.multiply(gv, d.baseAddress!, dx.baseAddress!, count: dx.count) } }
                    }
                })
        }
    )
}

/// x·σ(x) (SiLU, also called swish).
@differentiable(reverse)
public func silu(_ x: DTensor) -> DTensor { elementwise(x) { $0 / (1 + Foundation.exp(-$0)) } }

/// The derivative of `silu`: its value and pullback, registered for `_Differentiation`.
@derivative(of: silu)
public func vjpSilu(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = silu(x)
    return (
        y,
        { g in
            elementwiseGradient(x, y, g) { v, _ in
                let s = 1 / (1 + Foundation.exp(-v))
                return s * (1 + v * (1 - s))
            }
        }
    )
}

/// e^x.
@differentiable(reverse)
public func exp(_ x: DTensor) -> DTensor { kernel(x) { Kernels.exp($0, $1, count: $2) } }

/// The derivative of `exp`: its value and pullback, registered for `_Differentiation`.
@derivative(of: exp)
public func vjpExp(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = exp(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in out } })
}

/// The natural logarithm.
@differentiable(reverse)
public func log(_ x: DTensor) -> DTensor { elementwise(x) { Foundation.log($0) } }

/// The derivative of `log`: its value and pullback, registered for `_Differentiation`.
@derivative(of: log)
public func vjpLog(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (log(x), { g in elementwiseGradient(x, x, g) { v, _ in 1 / v } })
}

/// The square root.
@differentiable(reverse)
public func sqrt(_ x: DTensor) -> DTensor { elementwise(x) { $0.squareRoot() } }

/// The derivative of `sqrt`: its value and pullback, registered for `_Differentiation`.
@derivative(of: sqrt)
public func vjpSqrt(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = sqrt(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in 0.5 / out } })
}
