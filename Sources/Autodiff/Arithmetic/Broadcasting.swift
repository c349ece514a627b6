import NeuralNet
import _Differentiation

/// The element-wise binary operators that broadcast.
enum ElementwiseOperator {
    case add, subtract, multiply, divide

    @inline(__always)
    func apply(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .add: x + y
        case .subtract: x - y
        case .multiply: x * y
        case .divide: x / y
        }
    }
}

extension DTensor {
    /// `a op b` under NumPy's broadcasting: same shapes, a trailing operand repeated over rows, or any mix of
    /// repeated dimensions.
    static func broadcasting(_ a: DTensor, _ b: DTensor, _ op: ElementwiseOperator) -> DTensor {
        if a.shape == b.shape {
            return a.withPointer { x in
                b.withPointer { y in
                    filled(a.shape) { out in
                        if op == .add, out.count > 0 {
                            out.baseAddress!.update(from: y, count: out.count)
                            Kernels.add(x, to: out.baseAddress!, count: out.count)
                        } else {
                            for index in 0..<out.count { out[index] = op.apply(x[index], y[index]) }
                        }
                    }
                }
            }
        }
        guard let shape = ShapeMath.broadcast(a.shape, b.shape) else {
            preconditionFailure("\(op): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        if a.shape == shape, isTrailing(b.shape, of: shape), b.count > 0 {
            let width = b.count
            return a.withPointer { x in
                b.withPointer { y in
                    filled(shape) { out in
                        for row in 0..<(out.count / width) {
                            let base = row * width
                            for column in 0..<width { out[base + column] = op.apply(x[base + column], y[column]) }
                        }
                    }
                }
            }
        }
        if b.shape == shape, isTrailing(a.shape, of: shape), a.count > 0 {
            let width = a.count
            return a.withPointer { x in
                b.withPointer { y in
                    filled(shape) { out in
                        for row in 0..<(out.count / width) {
                            let base = row * width
                            for column in 0..<width { out[base + column] = op.apply(x[column], y[base + column]) }
                        }
                    }
                }
            }
        }
        let aStrides = ShapeMath.broadcastStrides(a.shape, to: shape)
        let bStrides = ShapeMath.broadcastStrides(b.shape, to: shape)
        var aOffsets = [Int](repeating: 0, count: shape.reduce(1, *))
        ShapeMath.forEach(shape, strides: aStrides) { output, source in aOffsets[output] = source }
        return a.withPointer { x in
            b.withPointer { y in
                filled(shape) { out in
                    ShapeMath.forEach(shape, strides: bStrides) { output, source in out[output] = op.apply(x[aOffsets[output]], y[source]) }
                }
            }
        }
    }

    /// Whether `small`, without leading 1s, is the trailing part of `shape` (a row repeated over the rest).
    static func isTrailing(_ small: [Int], of shape: [Int]) -> Bool {
        let trimmed = Array(small.drop(while: { $0 == 1 }))
        return trimmed.count <= shape.count && Array(shape.suffix(trimmed.count)) == trimmed
    }

    /// A gradient of this shape summed over the dimensions that broadcasting repeated, to `target` (the
    /// operand's shape). Not differentiable: for pullbacks.
    func summed(toShape target: [Int]) -> DTensor {
        if shape == target || isZeroTangent { return self }
        let targetCount = target.reduce(1, *)
        if Self.isTrailing(target, of: shape), targetCount > 0 {
            return withPointer { g in
                DTensor.filled(target) { out in
                    Kernels.sumRows(g, out.baseAddress!, rows: count / targetCount, width: targetCount, accumulate: false)
                }
            }
        }
        var sums = [Float](repeating: 0, count: targetCount)
        let strides = ShapeMath.broadcastStrides(target, to: shape)
        withPointer { g in ShapeMath.forEach(shape, strides: strides) { output, source in sums[source] += g[output] } }
        return DTensor(shape: target, values: sums)
    }

    /// Element-wise product, broadcasting (PyTorch's `a * b`).
    @differentiable(reverse)
    public static func * (lhs: DTensor, rhs: DTensor) -> DTensor { multiply(lhs, rhs) }

    /// Element-wise quotient, broadcasting (PyTorch's `a / b`).
    @differentiable(reverse)
    public static func / (lhs: DTensor, rhs: DTensor) -> DTensor { divide(lhs, rhs) }

    /// Every value times a constant.
    @differentiable(reverse,wrt: lhs)
    public static func * (lhs: DTensor, rhs: Float) -> DTensor { scale(lhs, by: rhs) }

    /// Every value plus a constant.
    @differentiable(reverse,wrt: lhs)
    public static func + (lhs: DTensor, rhs: Float) -> DTensor { shift(lhs, by: rhs) }
}

/// Element-wise product, broadcasting over repeated dimensions (a per-feature scale, a gate).
@differentiable(reverse)
public func multiply(_ a: DTensor, _ b: DTensor) -> DTensor { DTensor.broadcasting(a, b, .multiply) }

/// The derivative of `multiply`: its value and pullback, registered for `_Differentiation`.
@derivative(of: multiply)
public func vjpMultiply(_ a: DTensor, _ b: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
    (
        multiply(a, b),
        { g in
            (
                a.isConstant ? .zero : a.deliver(DTensor.broadcasting(g, b.detached, .multiply).summed(toShape: a.shape)),
                b.isConstant ? .zero : b.deliver(DTensor.broadcasting(g, a.detached, .multiply).summed(toShape: b.shape))
            )
        }
    )
}

/// Element-wise quotient `a / b`, broadcasting.
@differentiable(reverse)
public func divide(_ a: DTensor, _ b: DTensor) -> DTensor { DTensor.broadcasting(a, b, .divide) }

/// The derivative of `divide`: its value and pullback, registered for `_Differentiation`.
@derivative(of: divide)
public func vjpDivide(_ a: DTensor, _ b: DTensor) -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor)) {
    let quotient = divide(a, b)
    return (
        quotient,
        { g in
            let da = a.isConstant ? DTensor.zero : a.deliver(DTensor.broadcasting(g, b.detached, .divide).summed(toShape: a.shape))
            // d(a/b)/db = -(a/b)/b
            let db =
                b.isConstant
                ? DTensor.zero
                : b.deliver(
                    DTensor.broadcasting(DTensor.broadcasting(g, quotient, .multiply), b.detached, .divide).summed(toShape: b.shape).scaled(by: -1))
            return (da, db)
        }
    )
}

/// Every value times `factor`.
@differentiable(reverse,wrt: x)
public func scale(_ x: DTensor, by factor: Float) -> DTensor { x.scaled(by: factor) }

/// The derivative of `scale`: its value and pullback, registered for `_Differentiation`.
@derivative(of: scale, wrt: x)
public func vjpScale(_ x: DTensor, by factor: Float) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (x.scaled(by: factor), { g in x.deliver(g.scaled(by: factor)) })
}

/// Every value plus `offset`.
@differentiable(reverse,wrt: x)
public func shift(_ x: DTensor, by offset: Float) -> DTensor {
    x.withValues { DTensor(shape: x.shape, values: $0.map { $0 + offset }) }
}

/// The derivative of `shift`: its value and pullback, registered for `_Differentiation`.
@derivative(of: shift, wrt: x)
public func vjpShift(_ x: DTensor, by offset: Float) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    (shift(x, by: offset), { g in x.deliver(g) })
}
