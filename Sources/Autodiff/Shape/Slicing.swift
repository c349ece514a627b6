import _Differentiation

/// The part of `x` at positions `range` along `axis` (PyTorch's `narrow`, or `x[..., a:b, ...]`).
@differentiable(reverse,wrt: x)
public func slice(_ x: DTensor, axis: Int, range: Range<Int>) -> DTensor {
    let axis = ShapeMath.axis(axis, rank: x.rank, "slice")
    ensure(range.lowerBound >= 0 && range.upperBound <= x.shape[axis], "slice: \(range) outside 0..<\(x.shape[axis]) of axis \(axis)")
    let (outer, size, inner) = ShapeMath.split(x.shape, at: axis)
    var shape = x.shape
    shape[axis] = range.count
    return x.withPointer { v in
        DTensor.filled(shape) { out in
            let run = range.count * inner
            for o in 0..<outer where run > 0 {
                (out.baseAddress! + o * run).update(from: v + (o * size + range.lowerBound) * inner, count: run)
            }
        }
    }
}

/// The derivative of `slice`: its value and pullback, registered for `_Differentiation`.
@derivative(of: slice, wrt: x)
public func vjpSlice(_ x: DTensor, axis: Int, range: Range<Int>) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let resolved = ShapeMath.axis(axis, rank: x.rank, "slice")
    return (
        slice(x, axis: axis, range: range),
        { g in
            guard !g.isZeroTangent else { return .zero }
            let (outer, size, inner) = ShapeMath.split(x.shape, at: resolved)
            var dx = [Float](repeating: 0, count: x.count)
            let run = range.count * inner
            g.withPointer { gv in
                dx.withUnsafeMutableBufferPointer { d in
                    for o in 0..<outer where run > 0 {
                        (d.baseAddress! + (o * size + range.lowerBound) * inner).update(from: gv + o * run, count: run)
                    }
                }
            }
            return x.deliver(DTensor(shape: x.shape, values: dx))
        }
    )
}

/// `x` cut along `axis` into consecutive parts of the given sizes (PyTorch's `split` with a list of sizes).
@differentiable(reverse,wrt: x)
public func split(_ x: DTensor, sizes: [Int], axis: Int) -> [DTensor] {
    let resolved = ShapeMath.axis(axis, rank: x.rank, "split")
    ensure(
        sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == x.shape[resolved],
        "split: sizes \(sizes) do not add up to \(x.shape[resolved]) along axis \(axis)")
    var start = 0
    return sizes.map { size in
        defer { start += size }
        return slice(x, axis: resolved, range: start..<(start + size))
    }
}

/// The derivative of `split`: its value and pullback, registered for `_Differentiation`.
@derivative(of: split, wrt: x)
public func vjpSplit(_ x: DTensor, sizes: [Int], axis: Int) -> (value: [DTensor], pullback: (Array<DTensor>.TangentVector) -> DTensor) {
    let parts = split(x, sizes: sizes, axis: axis)
    return (
        parts,
        { g in
            let pieces = parts.indices.map { index in
                index < g.base.count ? g.base[index].orZeros(parts[index].shape) : DTensor(shape: parts[index].shape, repeating: 0)
            }
            return x.deliver(concatenated(pieces, axis: ShapeMath.axis(axis, rank: x.rank, "split")))
        }
    )
}

/// `x` cut along `axis` into `count` equal parts (PyTorch's `chunk` for a size that divides evenly).
@differentiable(reverse,wrt: x)
public func split(_ x: DTensor, count: Int, axis: Int) -> [DTensor] {
    let shape = withoutDerivative(at: x.shape)
    let size = shape[ShapeMath.axis(axis, rank: shape.count, "split")]
    ensure(count > 0 && size % count == 0, "split: \(size) does not divide into \(count) equal parts")
    return split(x, sizes: Array(repeating: size / count, count: count), axis: axis)
}

/// The tensors joined along `axis`; every other dimension must agree (PyTorch's `cat`).
@differentiable(reverse)
public func concat(_ tensors: [DTensor], axis: Int) -> DTensor {
    ensure(!tensors.isEmpty, "concat: no tensors")
    return concatenated(tensors, axis: ShapeMath.axis(axis, rank: tensors[0].rank, "concat"))
}

func concatenated(_ tensors: [DTensor], axis: Int) -> DTensor {
    var shape = tensors[0].shape
    for tensor in tensors {
        var expected = shape
        expected[axis] = tensor.shape.count == shape.count ? tensor.shape[axis] : -1
        ensure(tensor.shape == expected, "concat: shapes \(tensors.map(\.shape)) differ outside axis \(axis)")
    }
    shape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
    let (outer, total, inner) = ShapeMath.split(shape, at: axis)
    var result = [Float](repeating: 0, count: outer * total * inner)
    result.withUnsafeMutableBufferPointer { out in
        var start = 0
        for tensor in tensors {
            let run = tensor.shape[axis] * inner
            tensor.withPointer { v in
                for o in 0..<outer where run > 0 { (out.baseAddress! + (o * total + start) * inner).update(from: v + o * run, count: run) }
            }
            start += tensor.shape[axis]
        }
    }
    return DTensor(shape: shape, values: result)
}

/// The derivative of `concat`: its value and pullback, registered for `_Differentiation`.
@derivative(of: concat)
public func vjpConcat(_ tensors: [DTensor], axis: Int) -> (value: DTensor, pullback: (DTensor) -> Array<DTensor>.TangentVector) {
    let resolved = ShapeMath.axis(axis, rank: tensors[0].rank, "concat")
    return (
        concat(tensors, axis: axis),
        { g in
            var shape = tensors[0].shape
            shape[resolved] = tensors.reduce(0) { $0 + $1.shape[resolved] }
            let g = g.orZeros(shape)
            var start = 0
            return Array<DTensor>.TangentVector(
                tensors.map { tensor in
                    defer { start += tensor.shape[resolved] }
                    return tensor.deliver(slice(g, axis: resolved, range: start..<(start + tensor.shape[resolved])))
                })
        }
    )
}

/// The tensors stacked along a new `axis` (PyTorch's `stack`).
@differentiable(reverse)
public func stack(_ tensors: [DTensor], axis: Int = 0) -> DTensor {
    ensure(!tensors.isEmpty, "stack: no tensors")
    let (shape, resolved) = stackedShape(withoutDerivative(at: tensors[0].shape), axis: axis)
    return concat(tensors.differentiableMap { reshape($0, to: shape) }, axis: resolved)
}

/// One stacked part's shape (a 1 inserted at `axis`) and the resolved axis.
func stackedShape(_ shape: [Int], axis: Int) -> (shape: [Int], axis: Int) {
    let resolved = axis < 0 ? axis + shape.count + 1 : axis
    ensure(resolved >= 0 && resolved <= shape.count, "stack: axis \(axis) outside a result of rank \(shape.count + 1)")
    var result = shape
    result.insert(1, at: resolved)
    return (result, resolved)
}
