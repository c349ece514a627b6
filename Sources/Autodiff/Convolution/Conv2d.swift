import NeuralNet
import _Differentiation

/// A 2-D convolution (PyTorch's `conv2d`): `x` [batch, channels, height, width], `weight` [filters, channels, k, k],
/// `bias` [filters] → [batch, filters, outHeight, outWidth], zero-padded by `padding` ("same" for stride 1 when nil)
/// and moved by `stride`; im2col and one OpenBLAS matrix product per sample.
@differentiable(reverse)
public func conv2d(_ x: DTensor, weight: DTensor, bias: DTensor, stride: Int = 1, padding: Int? = nil) -> DTensor {
    convolutionForward(x, weight, bias, ConvolutionGeometry(x, weight, stride: stride, padding: padding)).output
}

struct ConvolutionGeometry {
    let batch: Int, channels: Int, height: Int, width: Int, filters: Int, kernel: Int
    /// The patch layout of one sample, shared with the built-in `Conv2D`.
    let layout: Im2Col
    var inputPixels: Int { height * width }
    var pixels: Int { layout.pixels }
    var patch: Int { channels * kernel * kernel }

    init(_ x: DTensor, _ weight: DTensor, stride: Int, padding: Int?) {
        ensure(
            x.shape.count == 4 && weight.shape.count == 4 && x.shape[1] == weight.shape[1] && weight.shape[2] == weight.shape[3],
            "conv2d: input \(x.shape), weight \(weight.shape)")
        ensure(stride > 0 && (padding ?? 0) >= 0, "conv2d: stride \(stride), padding \(padding ?? 0)")
        (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        (filters, kernel) = (weight.shape[0], weight.shape[2])
        layout = Im2Col(channels: channels, height: height, width: width, kernel: kernel, padding: padding ?? kernel / 2, stride: stride)
        ensure(layout.outputHeight > 0 && layout.outputWidth > 0, "conv2d: input \(x.shape) is smaller than the kernel \(kernel)")
    }

    var outputShape: [Int] { [batch, filters, layout.outputHeight, layout.outputWidth] }

    /// The patches of one sample as columns: [patch, pixels].
    func im2col(_ sample: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>) { layout.fill(sample, into: columns) }

    /// Adds columns back into a sample's gradient (the transpose of `im2col`).
    func col2im(_ columns: UnsafePointer<Float>, into sample: UnsafeMutablePointer<Float>) { layout.add(columns, into: sample) }
}

func convolutionForward(_ x: DTensor, _ weight: DTensor, _ bias: DTensor, _ g: ConvolutionGeometry) -> (output: DTensor, columns: [Float]) {
    ensure(bias.count == g.filters, "conv2d: bias \(bias.shape) for \(g.filters) filters")
    var columns = [Float](repeating: 0, count: g.batch * g.patch * g.pixels)
    var output = [Float](repeating: 0, count: g.batch * g.filters * g.pixels)
    x.withValues { input in
        weight.withValues { w in
            bias.withValues { b in
                columns.withUnsafeMutableBufferPointer { cols in
                    output.withUnsafeMutableBufferPointer { out in
                        for sample in 0..<g.batch {
                            let sampleColumns = cols.baseAddress! + sample * g.patch * g.pixels
                            g.im2col(input.baseAddress! + sample * g.channels * g.inputPixels, into: sampleColumns)
                            let result = out.baseAddress! + sample * g.filters * g.pixels
                            for filter in 0..<g.filters { (result + filter * g.pixels).update(repeating: b[filter], count: g.pixels) }
                            BLAS.gemm(
                                transposeA: false, transposeB: false, m: g.filters, n: g.pixels, k: g.patch, w.baseAddress!, lda: g.patch,
                                sampleColumns, ldb: g.pixels, beta: 1, result, ldc: g.pixels)
                        }
                    }
                }
            }
        }
    }
    return (DTensor(shape: g.outputShape, values: output), columns)
}

/// The derivative of `conv2d`: its value and pullback, registered for `_Differentiation`.
@derivative(of: conv2d)
public func vjpConv2d(_ x: DTensor, weight: DTensor, bias: DTensor, stride: Int, padding: Int?)
    -> (value: DTensor, pullback: (DTensor) -> (DTensor, DTensor, DTensor))
{
    let g = ConvolutionGeometry(x, weight, stride: stride, padding: padding)
    let (output, columns) = convolutionForward(x, weight, bias, g)
    return (
        output,
        { gradient in
            let gradient = gradient.orZeros(output.shape)
            var dWeight = [Float](repeating: 0, count: weight.count)
            var dBias = [Float](repeating: 0, count: g.filters)
            var dx = [Float](repeating: 0, count: x.isConstant ? 0 : x.count)
            var dColumns = [Float](repeating: 0, count: g.patch * g.pixels)
            gradient.withValues { dy in
                weight.withValues { w in
                    columns.withUnsafeBufferPointer { cols in
                        for sample in 0..<g.batch {
                            let dOut = dy.baseAddress! + sample * g.filters * g.pixels
                            dWeight.withUnsafeMutableBufferPointer { dw in
                                BLAS.gemm(
                                    transposeA: false, transposeB: true, m: g.filters, n: g.patch, k: g.pixels, dOut, lda: g.pixels,
                                    cols.baseAddress! + sample * g.patch * g.pixels, ldb: g.pixels, beta: 1, dw.baseAddress!, ldc: g.patch)
                            }
                            for filter in 0..<g.filters { for pixel in 0..<g.pixels { dBias[filter] += dOut[filter * g.pixels + pixel] } }
                            guard !x.isConstant else { continue }
                            dColumns.withUnsafeMutableBufferPointer { dc in
                                BLAS.gemm(
                                    transposeA: true, transposeB: false, m: g.patch, n: g.pixels, k: g.filters, w.baseAddress!, lda: g.patch,
                                    dOut, ldb: g.pixels, beta: 0, dc.baseAddress!, ldc: g.pixels)
                                dx.withUnsafeMutableBufferPointer { d in
                                    g.col2im(UnsafePointer(dc.baseAddress!), into: d.baseAddress! + sample * g.channels * g.inputPixels)
                                }
                            }
                        }
                    }
                }
            }
            return (
                x.isConstant ? .zero : x.deliver(DTensor(shape: x.shape, values: dx)),
                weight.deliver(DTensor(shape: weight.shape, values: dWeight)), bias.deliver(DTensor(shape: bias.shape, values: dBias))
            )
        }
    )
}

/// A convolution layer for differentiable models (3 x 3 "same" by default, PyTorch's initialisation).
public struct Conv2DLayer: Differentiable {
    /// [filters, channels, k, k].
    public var weight: DTensor
    /// [filters].
    public var bias: DTensor
    /// The step between windows.
    @noDerivative public let stride: Int
    /// Zeros added on each side ("same" for stride 1 when nil).
    @noDerivative public let padding: Int?

    /// A layer of `filters` k x k filters over `channels` input channels, moved by `stride`, zero-padded by `padding`.
    public init(channels: Int, filters: Int, kernel: Int = 3, stride: Int = 1, padding: Int? = nil, random: inout CounterRandom) {
        ensure(channels > 0 && filters > 0 && kernel > 0 && stride > 0 && (padding ?? 0) >= 0, "Conv2DLayer needs positive sizes")
        self.stride = stride
        self.padding = padding
        let fanIn = channels * kernel * kernel
        let bound = 1 / Float(fanIn).squareRoot()
        weight = DTensor(
            parameterShape: [filters, channels, kernel, kernel],
            values: (0..<(filters * fanIn)).map { _ in (random.nextUniform() * 2 - 1) * bound })
        bias = DTensor(parameterShape: [filters], values: (0..<filters).map { _ in (random.nextUniform() * 2 - 1) * bound })
    }

    /// The layer's output.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor { conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding) }
}
