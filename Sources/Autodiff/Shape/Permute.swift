import _Differentiation

/// The dimensions reordered: dimension `i` of the result is dimension `axes[i]` of `x` (PyTorch's `permute`).
@differentiable(reverse,wrt: x)
public func permute(_ x: DTensor, _ axes: [Int]) -> DTensor {
    let axes = axes.map { ShapeMath.axis($0, rank: x.rank, "permute") }
    ensure(axes.count == x.rank && Set(axes).count == x.rank, "permute: \(axes) is not an order of \(x.rank) axes")
    return permuted(x, axes)
}

/// `permute` without checks, for pullbacks.
func permuted(_ x: DTensor, _ axes: [Int]) -> DTensor {
    let shape = axes.map { x.shape[$0] }
    if axes == Array(0..<x.rank) { return DTensor(shape: shape, values: x.values) }
    let sourceStrides = ShapeMath.strides(x.shape)
    let strides = axes.map { sourceStrides[$0] }
    return x.withPointer { v in
        DTensor.filled(shape) { out in ShapeMath.forEach(shape, strides: strides) { output, source in out[output] = v[source] } }
    }
}

/// The derivative of `permute`: its value and pullback, registered for `_Differentiation`.
@derivative(of: permute, wrt: x)
public func vjpPermute(_ x: DTensor, _ axes: [Int]) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let resolved = axes.map { ShapeMath.axis($0, rank: x.rank, "permute") }
    var inverse = [Int](repeating: 0, count: resolved.count)
    for (index, axis) in resolved.enumerated() { inverse[axis] = index }
    return (permute(x, axes), { g in x.deliver(g.isZeroTangent ? g : permuted(g, inverse)) })
}

/// `x` with two dimensions swapped (PyTorch's `transpose(a, b)`); by default the last two.
@differentiable(reverse,wrt: x)
public func transpose(_ x: DTensor, _ first: Int = -2, _ second: Int = -1) -> DTensor {
    permute(x, swappedAxes(rank: withoutDerivative(at: x.rank), first, second))
}

/// The identity order of `rank` axes with two swapped.
func swappedAxes(rank: Int, _ first: Int, _ second: Int) -> [Int] {
    var axes = Array(0..<rank)
    axes.swapAt(ShapeMath.axis(first, rank: rank, "transpose"), ShapeMath.axis(second, rank: rank, "transpose"))
    return axes
}
