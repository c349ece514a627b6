/// A 2-D convolution over [channels, height, width] samples with a stride and zero padding (im2col + sgemm).
///
/// Weight shape [outputChannels, inputChannels, kernel, kernel] and bias [outputChannels], as in PyTorch.
public final class Conv2D: KernelLayer {
    /// Input and output channels, kernel size, padding and stride.
    public let inputChannels: Int, outputChannels: Int, kernel: Int, padding: Int, stride: Int
    private var height = 0, width = 0, outputHeight = 0, outputWidth = 0
    private var weight = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var bias = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var weightGradient = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var biasGradient = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var columns = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var columnGradient = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)

    /// A convolution from `inputChannels` to `outputChannels` with a square `kernel` ("same" padding by default)
    /// moved by `stride`.
    public init(inputChannels: Int, outputChannels: Int, kernel: Int = 3, padding: Int? = nil, stride: Int = 1) {
        self.stride = stride
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.padding = padding ?? kernel / 2
    }

    deinit {
        columns.deallocate()
        columnGradient.deallocate()
    }

    /// A new convolution of the same configuration (its own column buffers).
    public func makeReplica() -> (any KernelLayer)? {
        Conv2D(inputChannels: inputChannels, outputChannels: outputChannels, kernel: kernel, padding: padding, stride: stride)
    }

    private var patch: Int { inputChannels * kernel * kernel }
    private var pixels: Int { outputHeight * outputWidth }

    public func configure(inputShape: [Int]) throws -> [Int] {
        guard inputChannels > 0 && outputChannels > 0 && kernel > 0 && stride > 0 && padding >= 0 else {
            throw LayerError.invalidArgument(
                layer: "Conv2D(inputChannels: \(inputChannels), outputChannels: \(outputChannels), kernel: \(kernel), "
                    + "padding: \(padding), stride: \(stride))",
                argument: "each size", expected: "at least 1 (padding at least 0)")
        }
        guard inputShape.count == 3, inputShape[0] == inputChannels else {
            throw LayerError.badInputShape(
                layer: "Conv2D(\(inputChannels), \(outputChannels))", shape: inputShape,
                expected: "[\(inputChannels), height, width]")
        }
        height = inputShape[1]
        width = inputShape[2]
        outputHeight = layout.outputHeight
        outputWidth = layout.outputWidth
        guard outputHeight > 0 && outputWidth > 0 else {
            throw LayerError.badInputShape(layer: "Conv2D", shape: inputShape, expected: "at least the kernel size")
        }
        columns = .allocate(capacity: patch * pixels)
        columnGradient = .allocate(capacity: patch * pixels)
        return [outputChannels, outputHeight, outputWidth]
    }

    public var parameterShapes: [(suffix: String, shape: [Int])] {
        [("weight", [outputChannels, inputChannels, kernel, kernel]), ("bias", [outputChannels])]
    }

    public func bind(parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>]) {
        weight = parameters[0]
        bias = parameters[1]
        weightGradient = gradients[0]
        biasGradient = gradients[1]
    }

    /// PyTorch's default: weights and bias uniform with bound 1/√(inputChannels·kernel²).
    public func initialize(using random: inout CounterRandom) {
        let bound = 1 / Float(patch).squareRoot()
        fillUniform(weight, bound: bound, using: &random)
        fillUniform(bias, bound: bound, using: &random)
    }

    private var layout: Im2Col {
        Im2Col(channels: inputChannels, height: height, width: width, kernel: kernel, padding: padding, stride: stride)
    }

    private func fillColumns(from image: UnsafePointer<Float>) {
        layout.fill(image, into: columns.baseAddress!)
    }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
        randomKey: UInt64
    ) {
        let inputSize = inputChannels * height * width
        let outputSize = outputChannels * pixels
        for sample in 0..<batch {
            fillColumns(from: input + sample * inputSize)
            let target = output + sample * outputSize
            for channel in 0..<outputChannels {
                (target + channel * pixels).update(repeating: bias[channel], count: pixels)
            }
            BLAS.gemm(
                transposeA: false, transposeB: false, m: outputChannels, n: pixels, k: patch,
                UnsafePointer(weight.baseAddress!), lda: patch, UnsafePointer(columns.baseAddress!), ldb: pixels,
                beta: 1, target, ldc: pixels)
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool
    ) {
        let inputSize = inputChannels * height * width
        let outputSize = outputChannels * pixels
        if !accumulate {
            weightGradient.update(repeating: 0)
            biasGradient.update(repeating: 0)
        }
        for sample in 0..<batch {
            let gradient = outputGradient + sample * outputSize
            fillColumns(from: input + sample * inputSize)
            BLAS.gemm(
                transposeA: false, transposeB: true, m: outputChannels, n: patch, k: pixels, gradient, lda: pixels,
                UnsafePointer(columns.baseAddress!), ldb: pixels, beta: 1, weightGradient.baseAddress!, ldc: patch)
            for channel in 0..<outputChannels {
                var sum: Float = 0
                for pixel in 0..<pixels { sum += gradient[channel * pixels + pixel] }
                biasGradient[channel] += sum
            }
            guard let inputGradient else { continue }
            BLAS.gemm(
                transposeA: true, transposeB: false, m: patch, n: pixels, k: outputChannels,
                UnsafePointer(weight.baseAddress!), lda: patch, gradient, ldb: pixels, beta: 0,
                columnGradient.baseAddress!, ldc: pixels)
            let image = inputGradient + sample * inputSize
            image.update(repeating: 0, count: inputSize)
            layout.add(UnsafePointer(columnGradient.baseAddress!), into: image)
        }
    }
}

/// 2-D max pooling with a square window and an equal stride over [channels, height, width] samples.
public final class MaxPool2D: KernelLayer {
    /// Window and stride.
    public let size: Int
    private var channels = 0, height = 0, width = 0, outputHeight = 0, outputWidth = 0
    private var argmax = UnsafeMutableBufferPointer<Int32>(start: nil, count: 0)

    /// A pooling of `size x size` windows.
    public init(size: Int = 2) {
        self.size = size
    }

    deinit { argmax.deallocate() }

    /// A new pooling of the same size (its own argmax buffer).
    public func makeReplica() -> (any KernelLayer)? { MaxPool2D(size: size) }

    public func configure(inputShape: [Int]) throws -> [Int] {
        guard size > 0 else { throw LayerError.invalidArgument(layer: "MaxPool2D(size: \(size))", argument: "size", expected: "at least 1") }
        guard inputShape.count == 3, inputShape[1] >= size, inputShape[2] >= size else {
            throw LayerError.badInputShape(
                layer: "MaxPool2D(\(size))", shape: inputShape,
                expected: "[channels, height, width] at least \(size) x \(size)")
        }
        (channels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        (outputHeight, outputWidth) = (height / size, width / size)
        return [channels, outputHeight, outputWidth]
    }

    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, batch: Int, training: Bool,
        randomKey: UInt64
    ) {
        let count = batch * channels * outputHeight * outputWidth
        if argmax.count < count {
            argmax.deallocate()
            argmax = .allocate(capacity: count)
        }
        var out = 0
        for plane in 0..<(batch * channels) {
            let source = input + plane * height * width
            for oy in 0..<outputHeight {
                for ox in 0..<outputWidth {
                    var best = -Float.infinity
                    var bestIndex = 0
                    for dy in 0..<size {
                        for dx in 0..<size {
                            let index = (oy * size + dy) * width + ox * size + dx
                            if source[index] > best {
                                best = source[index]
                                bestIndex = index
                            }
                        }
                    }
                    output[out] = best
                    argmax[out] = Int32(bestIndex)
                    out += 1
                }
            }
        }
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, accumulate: Bool
    ) {
        guard let inputGradient else { return }
        inputGradient.update(repeating: 0, count: batch * channels * height * width)
        let perPlane = outputHeight * outputWidth
        for plane in 0..<(batch * channels) {
            let target = inputGradient + plane * height * width
            for position in 0..<perPlane {
                let out = plane * perPlane + position
                target[Int(argmax[out])] += outputGradient[out]
            }
        }
    }
}
