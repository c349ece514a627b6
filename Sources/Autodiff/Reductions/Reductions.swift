import _Differentiation

/// The sum of every value, as a tensor of shape [1].
@differentiable(reverse)
public func sum(_ x: DTensor) -> DTensor { x.withValues { DTensor(shape: [1], values: [$0.reduce(0, +)]) } }

/// The derivative of `sum`: its value and pullback, registered for `_Differentiation`.
@derivative(of: sum(_:))
public func vjpSum(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (sum(x), { g in x.deliver(DTensor(shape: x.shape, repeating: g.values.first ?? 0)) })
}

/// The mean of every value, as a tensor of shape [1].
@differentiable(reverse)
public func mean(_ x: DTensor) -> DTensor {
    x.withValues { DTensor(shape: [1], values: [$0.reduce(0, +) / Float(Swift.max($0.count, 1))]) }
}

/// The derivative of `mean`: its value and pullback, registered for `_Differentiation`.
@derivative(of: mean(_:))
public func vjpMean(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (mean(x), { g in x.deliver(DTensor(shape: x.shape, repeating: (g.values.first ?? 0) / Float(Swift.max(x.count, 1)))) })
}

/// The shape of a reduction along `axis`: the axis kept as 1 or dropped.
func reducedShape(_ shape: [Int], axis: Int, keepingAxis: Bool) -> [Int] {
    var result = shape
    if keepingAxis { result[axis] = 1 } else { result.remove(at: axis) }
    return result
}

/// Sums along `axis` (negative counts from the end), dropping it unless `keepingAxis` (PyTorch's `sum(dim, keepdim)`).
@differentiable(reverse,wrt: x)
public func sum(_ x: DTensor, axis: Int, keepingAxis: Bool = false) -> DTensor {
    let axis = ShapeMath.axis(axis, rank: x.rank, "sum")
    let (outer, size, inner) = ShapeMath.split(x.shape, at: axis)
    return x.withPointer { v in
        DTensor.filled(reducedShape(x.shape, axis: axis, keepingAxis: keepingAxis)) { out in
            out.update(repeating: 0)
            for o in 0..<outer {
                for s in 0..<size {
                    let source = v + (o * size + s) * inner
                    let target = out.baseAddress! + o * inner
                    for i in 0..<inner { target[i] += source[i] }
                }
            }
        }
    }
}

/// Repeats `g` (the reduced shape) along `axis` of `shape`, times `factor`.
func expand(_ g: DTensor, along axis: Int, of shape: [Int], factor: Float) -> DTensor {
    let (outer, size, inner) = ShapeMath.split(shape, at: axis)
    let g = g.orZeros([outer * inner])
    return g.withPointer { source in
        DTensor.filled(shape) { out in
            for o in 0..<outer {
                for s in 0..<size {
                    let target = out.baseAddress! + (o * size + s) * inner
                    let row = source + o * inner
                    for i in 0..<inner { target[i] = row[i] * factor }
                }
            }
        }
    }
}

/// The derivative of `sumAlongAxis`: its value and pullback, registered for `_Differentiation`.
@derivative(of: sum(_:axis:keepingAxis:), wrt: x)
public func vjpSumAlongAxis(_ x: DTensor, axis: Int, keepingAxis: Bool) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let resolved = ShapeMath.axis(axis, rank: x.rank, "sum")
    return (sum(x, axis: axis, keepingAxis: keepingAxis), { g in x.deliver(expand(g, along: resolved, of: x.shape, factor: 1)) })
}

/// The mean along `axis`, dropping it unless `keepingAxis` (PyTorch's `mean(dim, keepdim)`).
@differentiable(reverse,wrt: x)
public func mean(_ x: DTensor, axis: Int, keepingAxis: Bool = false) -> DTensor {
    let size = x.shape[ShapeMath.axis(axis, rank: x.rank, "mean")]
    return sum(x, axis: axis, keepingAxis: keepingAxis).scaled(by: 1 / Float(Swift.max(size, 1)))
}

/// The derivative of `meanAlongAxis`: its value and pullback, registered for `_Differentiation`.
@derivative(of: mean(_:axis:keepingAxis:), wrt: x)
public func vjpMeanAlongAxis(_ x: DTensor, axis: Int, keepingAxis: Bool) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let resolved = ShapeMath.axis(axis, rank: x.rank, "mean")
    let factor = 1 / Float(Swift.max(x.shape[resolved], 1))
    return (mean(x, axis: axis, keepingAxis: keepingAxis), { g in x.deliver(expand(g, along: resolved, of: x.shape, factor: factor)) })
}

/// The largest value along `axis` (the first one on ties gets the gradient), dropping the axis unless `keepingAxis`.
@differentiable(reverse,wrt: x)
public func max(_ x: DTensor, axis: Int, keepingAxis: Bool = false) -> DTensor { maxForward(x, axis, keepingAxis).value }

func maxForward(_ x: DTensor, _ axis: Int, _ keepingAxis: Bool) -> (value: DTensor, winners: [Int]) {
    let axis = ShapeMath.axis(axis, rank: x.rank, "max")
    let (outer, size, inner) = ShapeMath.split(x.shape, at: axis)
    ensure(size > 0, "max: axis \(axis) of \(x.shape) is empty")
    var winners = [Int](repeating: 0, count: outer * inner)
    let value = x.withPointer { v in
        DTensor.filled(reducedShape(x.shape, axis: axis, keepingAxis: keepingAxis)) { out in
            for o in 0..<outer {
                for i in 0..<inner {
                    var best = v[o * size * inner + i]
                    var at = o * size * inner + i
                    for s in 1..<Swift.max(size, 1) {
                        let index = (o * size + s) * inner + i
                        // NaN propagates as in PyTorch.
                        if v[index] > best || v[index].isNaN && !best.isNaN {
                            best = v[index]
                            at = index
                        }
                    }
                    out[o * inner + i] = best
                    winners[o * inner + i] = at
                }
            }
        }
    }
    return (value, winners)
}

/// The derivative of `maxAlongAxis`: its value and pullback, registered for `_Differentiation`.
@derivative(of: max(_:axis:keepingAxis:), wrt: x)
public func vjpMaxAlongAxis(_ x: DTensor, axis: Int, keepingAxis: Bool) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let (value, winners) = maxForward(x, axis, keepingAxis)
    return (
        value,
        { g in
            let g = g.orZeros(value.shape)
            var dx = [Float](repeating: 0, count: x.count)
            g.withValues { gv in for (index, winner) in winners.enumerated() { dx[winner] += gv[index] } }
            return x.deliver(DTensor(shape: x.shape, values: dx))
        }
    )
}
