import _Differentiation
import NeuralNet

/// A 2-D convolution with stride 1 and "same" zero padding (as the built-in `Conv2D`): `x` [batch, channels, height,
/// width], `weight` [filters, channels, k, k], `bias` [filters] → [batch, filters, height, width]; im2col and one
/// OpenBLAS matrix product per sample.
public func conv2d(_ x: DTensor, weight: DTensor, bias: DTensor) -> DTensor {
    convolutionForward(x, weight, bias).output
}

struct ConvolutionGeometry {
    let batch: Int, channels: Int, height: Int, width: Int, filters: Int, kernel: Int
    var pixels: Int { height * width }
    var patch: Int { channels * kernel * kernel }

    init(_ x: DTensor, _ weight: DTensor) {
        precondition(x.shape.count == 4 && weight.shape.count == 4 && x.shape[1] == weight.shape[1] && weight.shape[2] == weight.shape[3],
                     "conv2d: input \(x.shape), weight \(weight.shape)")
        (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        (filters, kernel) = (weight.shape[0], weight.shape[2])
    }

    /// The patch layout of one sample ("same" padding), shared with the built-in `Conv2D`.
    var layout: Im2Col { Im2Col(channels: channels, height: height, width: width, kernel: kernel, padding: kernel / 2) }

    /// The patches of one sample as columns: [patch, pixels].
    func im2col(_ sample: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>) { layout.fill(sample, into: columns) }

    /// Adds columns back into a sample's gradient (the transpose of `im2col`).
    func col2im(_ columns: UnsafePointer<Float>, into sample: UnsafeMutablePointer<Float>) { layout.add(columns, into: sample) }
}

func convolutionForward(_ x: DTensor, _ weight: DTensor, _ bias: DTensor) -> (output: DTensor, columns: [Float]) {
    let g = ConvolutionGeometry(x, weight)
    var columns = [Float](repeating: 0, count: g.batch * g.patch * g.pixels)
    var output = [Float](repeating: 0, count: g.batch * g.filters * g.pixels)
    x.withValues { input in weight.withValues { w in bias.withValues { b in
        columns.withUnsafeMutableBufferPointer { cols in output.withUnsafeMutableBufferPointer { out in
            for sample in 0..<g.batch {
                let sampleColumns = cols.baseAddress! + sample * g.patch * g.pixels
                g.im2col(input.baseAddress! + sample * g.channels * g.pixels, into: sampleColumns)
                let result = out.baseAddress! + sample * g.filters * g.pixels
                for filter in 0..<g.filters { (result + filter * g.pixels).update(repeating: b[filter], count: g.pixels) }
                BLAS.gemm(transposeA: false, transposeB: false, m: g.filters, n: g.pixels, k: g.patch, w.baseAddress!, lda: g.patch,
                          sampleColumns, ldb: g.pixels, beta: 1, result, ldc: g.pixels)
            }
        } }
    } } }
    return (DTensor(shape: [g.batch, g.filters, g.height, g.width], values: output), columns)
}

@derivative(of: conv2d)
public func vjpConv2d(_ x: DTensor, weight: DTensor, bias: DTensor)
    -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor, DTensor))
{
    let (output, columns) = convolutionForward(x, weight, bias)
    let g = ConvolutionGeometry(x, weight)
    return (output, { gradient in
        var dWeight = [Float](repeating: 0, count: weight.count), dBias = [Float](repeating: 0, count: g.filters)
        var dx = [Float](repeating: 0, count: x.isConstant ? 0 : x.count)
        var dColumns = [Float](repeating: 0, count: g.patch * g.pixels)
        gradient.withValues { dy in weight.withValues { w in columns.withUnsafeBufferPointer { cols in
            for sample in 0..<g.batch {
                let dOut = dy.baseAddress! + sample * g.filters * g.pixels
                dWeight.withUnsafeMutableBufferPointer { dw in
                    BLAS.gemm(transposeA: false, transposeB: true, m: g.filters, n: g.patch, k: g.pixels, dOut, lda: g.pixels,
                              cols.baseAddress! + sample * g.patch * g.pixels, ldb: g.pixels, beta: 1, dw.baseAddress!, ldc: g.patch)
                }
                for filter in 0..<g.filters { for pixel in 0..<g.pixels { dBias[filter] += dOut[filter * g.pixels + pixel] } }
                guard !x.isConstant else { continue }
                dColumns.withUnsafeMutableBufferPointer { dc in
                    BLAS.gemm(transposeA: true, transposeB: false, m: g.patch, n: g.pixels, k: g.filters, w.baseAddress!, lda: g.patch,
                              dOut, ldb: g.pixels, beta: 0, dc.baseAddress!, ldc: g.pixels)
                    dx.withUnsafeMutableBufferPointer { d in
                        g.col2im(UnsafePointer(dc.baseAddress!), into: d.baseAddress! + sample * g.channels * g.pixels)
                    }
                }
            }
        } } }
        return (x.isConstant ? .zero : x.deliver(DTensor(shape: x.shape, values: dx)),
                weight.deliver(DTensor(shape: weight.shape, values: dWeight)), bias.deliver(DTensor(shape: bias.shape, values: dBias)))
    })
}

/// The maximum of each `size` x `size` window (stride `size`): [batch, channels, h, w] → [batch, channels, h/size, w/size].
public func maxPool2d(_ x: DTensor, size: Int) -> DTensor { maxPoolForward(x, size).output }

func maxPoolForward(_ x: DTensor, _ size: Int) -> (output: DTensor, winners: [Int]) {
    precondition(x.shape.count == 4 && size > 0, "maxPool2d: input \(x.shape), size \(size)")
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let outHeight = height / size, outWidth = width / size
    var output = [Float](repeating: 0, count: batch * channels * outHeight * outWidth)
    var winners = [Int](repeating: 0, count: output.count)
    x.withValues { v in
        for plane in 0..<(batch * channels) { for oy in 0..<outHeight { for ox in 0..<outWidth {
            var best = -Float.infinity, at = 0
            for dy in 0..<size { for dx in 0..<size {
                let index = (plane * height + oy * size + dy) * width + ox * size + dx
                if v[index] > best { best = v[index]; at = index }
            } }
            let out = (plane * outHeight + oy) * outWidth + ox
            output[out] = best
            winners[out] = at
        } } }
    }
    return (DTensor(shape: [batch, channels, outHeight, outWidth], values: output), winners)
}

@derivative(of: maxPool2d, wrt: x)
public func vjpMaxPool2d(_ x: DTensor, size: Int) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let (output, winners) = maxPoolForward(x, size)
    return (output, { gradient in
        var dx = [Float](repeating: 0, count: x.count)
        gradient.withValues { g in for (out, index) in winners.enumerated() { dx[index] += g[out] } }
        return x.deliver(DTensor(shape: x.shape, values: dx))
    })
}

/// A convolution layer for differentiable models (3 x 3 by default, PyTorch's initialisation).
public struct Conv2DLayer: Differentiable {
    /// [filters, channels, k, k].
    public var weight: DTensor
    /// [filters].
    public var bias: DTensor

    /// A layer of `filters` k x k filters over `channels` input channels.
    public init(channels: Int, filters: Int, kernel: Int = 3, random: inout CounterRandom) {
        let fanIn = channels * kernel * kernel, bound = 1 / Float(fanIn).squareRoot()
        weight = DTensor(parameterShape: [filters, channels, kernel, kernel],
                         values: (0..<(filters * fanIn)).map { _ in (random.nextUniform() * 2 - 1) * bound })
        bias = DTensor(parameterShape: [filters], values: (0..<filters).map { _ in (random.nextUniform() * 2 - 1) * bound })
    }

    /// The layer's output.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor { conv2d(x, weight: weight, bias: bias) }
}
