import _Differentiation

/// `x` with the positions where `mask` is true replaced by `fill` (PyTorch's `masked_fill`): `mask` holds the
/// trailing dimensions of `x` (e.g. [time, time] for scores [batch, heads, time, time]) and repeats over the rest.
/// Filled positions get no gradient.
@differentiable(reverse,wrt: x)
public func masked(_ x: DTensor, by mask: [Bool], fill: Float = -.infinity) -> DTensor {
    ensure(!mask.isEmpty && x.count % mask.count == 0, "masked: a mask of \(mask.count) values does not tile \(x.shape)")
    return x.withPointer { v in
        DTensor.filled(x.shape) { out in
            for index in 0..<out.count { out[index] = mask[index % mask.count] ? fill : v[index] }
        }
    }
}

/// The derivative of `masked`: its value and pullback, registered for `_Differentiation`.
@derivative(of: masked, wrt: x)
public func vjpMasked(_ x: DTensor, by mask: [Bool], fill: Float) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (
        masked(x, by: mask, fill: fill),
        { g in
            guard !g.isZeroTangent else { return .zero }
            return x.deliver(
                g.withPointer { gv in
                    DTensor.filled(x.shape) { dx in for index in 0..<dx.count { dx[index] = mask[index % mask.count] ? 0 : gv[index] } }
                })
        }
    )
}

/// The mask of a causal attention over `queries` x `keys` positions: true where a key lies in the query's future.
public func causalMask(queries: Int, keys: Int) -> [Bool] {
    (0..<(queries * keys)).map { index in index % keys > index / keys + (keys - queries) }
}

/// Attention scores [..., queries, keys] with every future key set to -∞ (before a softmax).
@differentiable(reverse)
public func causallyMasked(_ scores: DTensor) -> DTensor {
    let shape = withoutDerivative(at: scores.shape)
    ensure(shape.count >= 2, "causallyMasked: scores \(shape) need [..., queries, keys]")
    return masked(scores, by: causalMask(queries: shape[shape.count - 2], keys: shape[shape.count - 1]))
}

/// softmax(q·kᵀ/√d [masked]) · v for q [..., queries, d], k [..., keys, d], v [..., keys, dv] (PyTorch's
/// `scaled_dot_product_attention`), composed of the differentiable operations; `causal` hides future keys,
/// `mask` (true = hidden, [queries, keys]) hides any others.
@differentiable(reverse,wrt: (q, k, v))
public func scaledDotProductAttention(_ q: DTensor, _ k: DTensor, _ v: DTensor, causal: Bool = false, mask: [Bool]? = nil) -> DTensor {
    let depth = withoutDerivative(at: q.shape.last ?? 1)
    var scores = matmul(q, k, transposeB: true) * (1 / Float(depth).squareRoot())
    if causal { scores = causallyMasked(scores) }
    if let mask { scores = masked(scores, by: mask) }
    return matmul(softmax(scores, axis: -1), v)
}
