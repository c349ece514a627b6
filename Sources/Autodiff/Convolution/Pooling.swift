import _Differentiation

/// The window layout of a 2-D pooling over [batch, channels, height, width] (no padding, PyTorch's floor rounding).
struct PoolingGeometry {
    let planes: Int, height: Int, width: Int, size: Int, stride: Int, outHeight: Int, outWidth: Int
    let outputShape: [Int]

    init(_ shape: [Int], size: Int, stride: Int?, _ operation: String) {
        let stride = stride ?? size
        ensure(shape.count == 4 && size > 0 && stride > 0, "\(operation): input \(shape), size \(size), stride \(stride)")
        (planes, height, width) = (shape[0] * shape[1], shape[2], shape[3])
        (self.size, self.stride) = (size, stride)
        ensure(height >= size && width >= size, "\(operation): input \(shape) is smaller than the window \(size)")
        outHeight = (height - size) / stride + 1
        outWidth = (width - size) / stride + 1
        outputShape = [shape[0], shape[1], outHeight, outWidth]
    }

    /// Calls `body(outputIndex, inputIndices)` for every window.
    func forEachWindow(_ body: (Int, _ offsets: (Int, Int) -> Int) -> Void) {
        for plane in 0..<planes {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    body((plane * outHeight + oy) * outWidth + ox) { dy, dx in (plane * height + oy * stride + dy) * width + ox * stride + dx }
                }
            }
        }
    }
}

/// The maximum of each `size` x `size` window moved by `stride` (`size` when nil): [batch, channels, h, w] →
/// [batch, channels, ⌊(h − size)/stride⌋ + 1, ...] (PyTorch's `max_pool2d`).
@differentiable(reverse,wrt: x)
public func maxPool2d(_ x: DTensor, size: Int, stride: Int? = nil) -> DTensor {
    maxPoolForward(x, PoolingGeometry(x.shape, size: size, stride: stride, "maxPool2d")).output
}

func maxPoolForward(_ x: DTensor, _ g: PoolingGeometry) -> (output: DTensor, winners: [Int]) {
    var output = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
    var winners = [Int](repeating: 0, count: output.count)
    x.withPointer { v in
        g.forEachWindow { out, offset in
            var best = -Float.infinity
            var at = offset(0, 0)
            for dy in 0..<g.size {
                for dx in 0..<g.size {
                    let index = offset(dy, dx)
                    if v[index] > best || v[index].isNaN && !best.isNaN {
                        best = v[index]
                        at = index
                    }
                }
            }
            output[out] = best
            winners[out] = at
        }
    }
    return (DTensor(shape: g.outputShape, values: output), winners)
}

/// The derivative of `maxPool2d`: its value and pullback, registered for `_Differentiation`.
@derivative(of: maxPool2d, wrt: x)
public func vjpMaxPool2d(_ x: DTensor, size: Int, stride: Int?) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let (output, winners) = maxPoolForward(x, PoolingGeometry(x.shape, size: size, stride: stride, "maxPool2d"))
    return (
        output,
        { gradient in
            guard !gradient.isZeroTangent else { return .zero }
            var dx = [Float](repeating: 0, count: x.count)
            gradient.withPointer { g in for (out, index) in winners.enumerated() { dx[index] += g[out] } }
            return x.deliver(DTensor(shape: x.shape, values: dx))
        }
    )
}

/// The mean of each `size` x `size` window moved by `stride` (`size` when nil) (PyTorch's `avg_pool2d`, no padding).
@differentiable(reverse,wrt: x)
public func avgPool2d(_ x: DTensor, size: Int, stride: Int? = nil) -> DTensor {
    let g = PoolingGeometry(x.shape, size: size, stride: stride, "avgPool2d")
    let scale = 1 / Float(size * size)
    return x.withPointer { v in
        DTensor.filled(g.outputShape) { out in
            g.forEachWindow { index, offset in
                var total: Float = 0
                for dy in 0..<g.size { for dx in 0..<g.size { total += v[offset(dy, dx)] } }
                out[index] = total * scale
            }
        }
    }
}

/// The derivative of `avgPool2d`: its value and pullback, registered for `_Differentiation`.
@derivative(of: avgPool2d, wrt: x)
public func vjpAvgPool2d(_ x: DTensor, size: Int, stride: Int?) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let g = PoolingGeometry(x.shape, size: size, stride: stride, "avgPool2d")
    return (
        avgPool2d(x, size: size, stride: stride),
        { gradient in
            guard !gradient.isZeroTangent else { return .zero }
            let scale = 1 / Float(size * size)
            var dx = [Float](repeating: 0, count: x.count)
            gradient.withPointer { gv in
                g.forEachWindow { index, offset in
                    for dy in 0..<g.size { for dx2 in 0..<g.size { dx[offset(dy, dx2)] += gv[index] * scale } }
                }
            }
            return x.deliver(DTensor(shape: x.shape, values: dx))
        }
    )
}

/// The mean over each channel's whole plane: [batch, channels, h, w] → [batch, channels] (global average pooling).
@differentiable(reverse)
public func globalAvgPool2d(_ x: DTensor) -> DTensor {
    let shape = withoutDerivative(at: x.shape)
    ensure(shape.count == 4, "globalAvgPool2d: input \(shape) is not [batch, channels, height, width]")
    return mean(reshape(x, to: [shape[0], shape[1], shape[2] * shape[3]]), axis: 2)
}
