/// The patch layout of a convolution over one [channels, height, width] sample: each k x k patch as a
/// column of a [channels·k·k, outputHeight·outputWidth] matrix, so the convolution is one matrix product. Used by
/// `Conv2D` and by the differentiable `conv2d`.
package struct Im2Col {
    package let channels: Int, height: Int, width: Int, kernel: Int, padding: Int, stride: Int
    package let outputHeight: Int, outputWidth: Int

    /// The layout for samples of [channels, height, width] and a `kernel` x `kernel` window zero-padded by `padding`,
    /// moved by `stride` (PyTorch's output size ⌊(size + 2·padding − kernel) / stride⌋ + 1).
    package init(channels: Int, height: Int, width: Int, kernel: Int, padding: Int, stride: Int = 1) {
        (self.channels, self.height, self.width, self.kernel, self.padding, self.stride) = (channels, height, width, kernel, padding, stride)
        outputHeight = Swift.max(0, (height + 2 * padding - kernel) / stride + 1)
        outputWidth = Swift.max(0, (width + 2 * padding - kernel) / stride + 1)
    }

    /// Rows of the column matrix.
    package var patch: Int { channels * kernel * kernel }
    /// Columns of the column matrix (output pixels).
    package var pixels: Int { outputHeight * outputWidth }

    /// Writes the sample's patches into `columns` ([patch, pixels]).
    package func fill(_ image: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>) {
        var row = 0
        for channel in 0..<channels {
            let plane = image + channel * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let target = columns + row * pixels
                    for oy in 0..<outputHeight {
                        let iy = oy * stride + ky - padding
                        for ox in 0..<outputWidth {
                            let ix = ox * stride + kx - padding
                            target[oy * outputWidth + ox] =
                                iy >= 0 && iy < height && ix >= 0 && ix < width
                                ? plane[iy * width + ix] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// Adds `columns` ([patch, pixels]) back into the sample's gradient `image` (the transpose of `fill`).
    package func add(_ columns: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        var row = 0
        for channel in 0..<channels {
            let plane = image + channel * height * width
            for ky in 0..<kernel {
                for kx in 0..<kernel {
                    let source = columns + row * pixels
                    for oy in 0..<outputHeight {
                        let iy = oy * stride + ky - padding
                        guard iy >= 0 && iy < height else { continue }
                        for ox in 0..<outputWidth {
                            let ix = ox * stride + kx - padding
                            if ix >= 0 && ix < width { plane[iy * width + ix] += source[oy * outputWidth + ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
