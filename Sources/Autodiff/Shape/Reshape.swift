import _Differentiation

/// The same values under another shape of the same size; one dimension may be -1 (inferred), as in PyTorch.
@differentiable(reverse,wrt: x)
public func reshape(_ x: DTensor, to shape: [Int]) -> DTensor {
    DTensor(shape: resolvedShape(shape, count: x.count), values: x.values)
}

/// `shape` with its -1 dimension filled in so that it holds `count` values.
func resolvedShape(_ shape: [Int], count: Int) -> [Int] {
    let unknown = shape.indices.filter { shape[$0] == -1 }
    ensure(unknown.count <= 1 && shape.allSatisfy { $0 >= -1 }, "reshape: \(shape) has more than one -1 or a negative size")
    var result = shape
    if let index = unknown.first {
        let known = shape.filter { $0 != -1 }.reduce(1, *)
        ensure(known > 0 && count % known == 0, "reshape: \(count) values do not fit \(shape)")
        result[index] = count / known
    }
    ensure(result.reduce(1, *) == count, "reshape: \(count) values do not fit \(shape)")
    return result
}

/// The derivative of `reshape`: its value and pullback, registered for `_Differentiation`.
@derivative(of: reshape, wrt: x)
public func vjpReshape(_ x: DTensor, to shape: [Int]) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (reshape(x, to: shape), { g in x.deliver(g.isZeroTangent ? g : DTensor(shape: x.shape, values: g.values)) })
}

/// Each sample flattened: [batch, ...] → [batch, features] (before a dense layer).
@differentiable(reverse)
public func flatten(_ x: DTensor) -> DTensor {
    DTensor(shape: [x.shape.first ?? 1, x.count / Swift.max(x.shape.first ?? 1, 1)], values: x.values)
}

/// The derivative of `flatten`: its value and pullback, registered for `_Differentiation`.
@derivative(of: flatten)
public func vjpFlatten(_ x: DTensor) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (flatten(x), { g in x.deliver(g.isZeroTangent ? g : DTensor(shape: x.shape, values: g.values)) })
}
