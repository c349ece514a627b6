import Foundation
import NeuralNet
import _Differentiation

/// Softmax along `axis` (the last by default): e^x normalised to sum to 1, computed stably.
@differentiable(reverse,wrt: x)
public func softmax(_ x: DTensor, axis: Int = -1) -> DTensor { softmaxForward(x, axis, logarithm: false) }

/// The logarithm of `softmax` along `axis`, computed stably (PyTorch's `log_softmax`).
@differentiable(reverse,wrt: x)
public func logSoftmax(_ x: DTensor, axis: Int = -1) -> DTensor { softmaxForward(x, axis, logarithm: true) }

func softmaxForward(_ x: DTensor, _ axis: Int, logarithm: Bool) -> DTensor {
    let axis = ShapeMath.axis(axis, rank: x.rank, logarithm ? "logSoftmax" : "softmax")
    let (outer, size, inner) = ShapeMath.split(x.shape, at: axis)
    if inner == 1, !logarithm {
        // The last axis: rows in place on the vectorised kernel.
        return x.withPointer { v in
            DTensor.filled(x.shape) { out in
                guard out.count > 0 else { return }
                out.baseAddress!.update(from: v, count: out.count)
                for o in 0..<outer { Kernels.softmaxRow(out.baseAddress! + o * size, visible: size, width: size) }
            }
        }
    }
    return x.withPointer { v in
        DTensor.filled(x.shape) { out in
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * size * inner + i
                    var top = -Float.infinity
                    for s in 0..<size { top = Swift.max(top, v[base + s * inner]) }
                    if top == -.infinity { top = 0 }  // a fully masked row: uniform NaN-free exponentials below
                    var total: Float = 0
                    for s in 0..<size {
                        let e = Foundation.exp(v[base + s * inner] - top)
                        out[base + s * inner] = e
                        total += e
                    }
                    if logarithm {
                        let logTotal = Foundation.log(total) + top
                        for s in 0..<size { out[base + s * inner] = v[base + s * inner] - logTotal }
                    } else {
                        let inverse = 1 / total
                        for s in 0..<size { out[base + s * inner] *= inverse }
                    }
                }
            }
        }
    }
}

/// The derivative of `softmax`: its value and pullback, registered for `_Differentiation`.
@derivative(of: softmax, wrt: x)
public func vjpSoftmax(_ x: DTensor, axis: Int) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = softmax(x, axis: axis)
    let resolved = ShapeMath.axis(axis, rank: x.rank, "softmax")
    return (
        y,
        { g in
            guard !g.isZeroTangent else { return .zero }
            let (outer, size, inner) = ShapeMath.split(x.shape, at: resolved)
            return x.deliver(
                y.withPointer { p in
                    g.withPointer { gv in
                        DTensor.filled(x.shape) { dx in
                            for o in 0..<outer {
                                for i in 0..<inner {
                                    let base = o * size * inner + i
                                    var dot: Float = 0
                                    for s in 0..<size { dot += gv[base + s * inner] * p[base + s * inner] }
                                    for s in 0..<size { dx[base + s * inner] = p[base + s * inner] * (gv[base + s * inner] - dot) }
                                }
                            }
                        }
                    }
                })
        }
    )
}

/// The derivative of `logSoftmax`: its value and pullback, registered for `_Differentiation`.
@derivative(of: logSoftmax, wrt: x)
public func vjpLogSoftmax(_ x: DTensor, axis: Int) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let y = logSoftmax(x, axis: axis)
    let resolved = ShapeMath.axis(axis, rank: x.rank, "logSoftmax")
    return (
        y,
        { g in
            guard !g.isZeroTangent else { return .zero }
            let (outer, size, inner) = ShapeMath.split(x.shape, at: resolved)
            return x.deliver(
                y.withPointer { logP in
                    g.withPointer { gv in
                        DTensor.filled(x.shape) { dx in
                            for o in 0..<outer {
                                for i in 0..<inner {
                                    let base = o * size * inner + i
                                    var total: Float = 0
                                    for s in 0..<size { total += gv[base + s * inner] }
                                    for s in 0..<size { dx[base + s * inner] = gv[base + s * inner] - Foundation.exp(logP[base + s * inner]) * total }
                                }
                            }
                        }
                    }
                })
        }
    )
}
