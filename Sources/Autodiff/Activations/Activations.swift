import Foundation
import _Differentiation
import NeuralNet

/// An element-wise function's values.
@inline(__always)
func elementwise(_ x: DTensor, _ f: (Float) -> Float) -> DTensor {
    x.withPointer { v in DTensor.filled(x.shape) { out in for index in 0..<out.count { out[index] = f(v[index]) } } }
}

/// The pullback of an element-wise function: `g · f'(x, y)` delivered to `x`.
@inline(__always)
func elementwiseGradient(_ x: DTensor, _ y: DTensor, _ g: DTensor, _ derivative: (Float, Float) -> Float) -> DTensor {
    guard !g.isZeroTangent, !x.isConstant else { return .zero }
    return x.deliver(x.withPointer { input in y.withPointer { output in g.withPointer { gv in
        DTensor.filled(x.shape) { dx in for index in 0..<dx.count { dx[index] = gv[index] * derivative(input[index], output[index]) } }
    } } })
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

@derivative(of: relu)
public func vjpRelu(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = relu(x)
    return (y, { g in
        guard !g.isZeroTangent else { return .zero }
        return x.deliver(y.withPointer { out in g.withPointer { gv in
            DTensor.filled(x.shape) { dx in
                if dx.count > 0 { Kernels.reluBackward(output: out, outputGradient: gv, inputGradient: dx.baseAddress!, count: dx.count) }
            }
        } })
    })
}

/// tanh(x).
@differentiable(reverse)
public func tanh(_ x: DTensor) -> DTensor { elementwise(x) { Foundation.tanh($0) } }

@derivative(of: tanh)
public func vjpTanh(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = tanh(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in 1 - out * out } })
}

/// 1 / (1 + e^-x).
@differentiable(reverse)
public func sigmoid(_ x: DTensor) -> DTensor { elementwise(x) { 1 / (1 + Foundation.exp(-$0)) } }

@derivative(of: sigmoid)
public func vjpSigmoid(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = sigmoid(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in out * (1 - out) } })
}

/// x·Φ(x), Φ the standard normal distribution function (PyTorch's exact `GELU()`, not the tanh approximation).
@differentiable(reverse)
public func gelu(_ x: DTensor) -> DTensor { elementwise(x) { 0.5 * $0 * (1 + Foundation.erf($0 * 0.70710678118654752)) } }

@derivative(of: gelu)
public func vjpGelu(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = gelu(x)
    return (y, { g in
        elementwiseGradient(x, y, g) { v, _ in
            0.5 * (1 + Foundation.erf(v * 0.70710678118654752)) + v * 0.39894228040143268 * Foundation.exp(-0.5 * v * v)
        }
    })
}

/// x·σ(x) (SiLU, also called swish).
@differentiable(reverse)
public func silu(_ x: DTensor) -> DTensor { elementwise(x) { $0 / (1 + Foundation.exp(-$0)) } }

@derivative(of: silu)
public func vjpSilu(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = silu(x)
    return (y, { g in
        elementwiseGradient(x, y, g) { v, _ in
            let s = 1 / (1 + Foundation.exp(-v))
            return s * (1 + v * (1 - s))
        }
    })
}

/// e^x.
@differentiable(reverse)
public func exp(_ x: DTensor) -> DTensor { elementwise(x) { Foundation.exp($0) } }

@derivative(of: exp)
public func vjpExp(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = exp(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in out } })
}

/// The natural logarithm.
@differentiable(reverse)
public func log(_ x: DTensor) -> DTensor { elementwise(x) { Foundation.log($0) } }

@derivative(of: log)
public func vjpLog(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (log(x), { g in elementwiseGradient(x, x, g) { v, _ in 1 / v } })
}

/// The square root.
@differentiable(reverse)
public func sqrt(_ x: DTensor) -> DTensor { elementwise(x) { $0.squareRoot() } }

@derivative(of: sqrt)
public func vjpSqrt(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = sqrt(x)
    return (y, { g in elementwiseGradient(x, y, g) { _, out in 0.5 / out } })
}
