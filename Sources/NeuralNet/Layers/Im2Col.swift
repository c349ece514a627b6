/// The patch layout of a stride-1 convolution over one [channels, height, width] sample: each k x k patch as a
/// column of a [channels·k·k, outputHeight·outputWidth] matrix, so the convolution is one matrix product. Used by
/// `Conv2D` and by the differentiable `conv2d`.
package struct Im2Col {
    package let channels: Int, height: Int, width: Int, kernel: Int, padding: Int
    package let outputHeight: Int, outputWidth: Int

    /// The layout for samples of [channels, height, width] and a `kernel` x `kernel` window zero-padded by `padding`.
    package init(channels: Int, height: Int, width: Int, kernel: Int, padding: Int) {
        (self.channels, self.height, self.width, self.kernel, self.padding) = (channels, height, width, kernel, padding)
        outputHeight = height + 2 * padding - kernel + 1
        outputWidth = width + 2 * padding - kernel + 1
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
                        let iy = oy + ky - padding
                        for ox in 0..<outputWidth {
                            let ix = ox + kx - padding
                            target[oy * outputWidth + ox] = iy >= 0 && iy < height && ix >= 0 && ix < width
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
                        let iy = oy + ky - padding
                        guard iy >= 0 && iy < height else { continue }
                        for ox in 0..<outputWidth {
                            let ix = ox + kx - padding
                            if ix >= 0 && ix < width { plane[iy * width + ix] += source[oy * outputWidth + ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}
