import CKernels
import Tracing

/// The element-wise kernels of the hot loops (optimizer steps, ReLU, bias rows), compiled in C for AVX2/FMA
/// where the CPU has them and chosen at run time, so no target needs a compiler flag.
///
/// With `BLAS.swift`, the only file of NeuralNet that calls into C.
package enum Kernels {
    /// Whether the AVX2/FMA instances run on this CPU.
    package static var usesAVX2: Bool { ck_uses_avx2() != 0 }

    /// Makes the C library keep buffers of any size in the heap for reuse instead of mapping each one.
    package static func keepLargeBuffersInTheHeap() { ck_keep_large_buffers_in_heap() }

    @inline(__always)
    package static func sgd(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, count: Int, rate: Float, decay: Float) {
        traced("sgd") {
            inChunks(count) { start, length in ck_sgd(p + start, g + start, length, rate, decay) }
        }
    }

    /// Runs an element-wise update over `0..<count` in chunks of 64 Ki values on the compute threads (every value's
    /// result is the same whatever the chunks).
    @inline(__always)
    private static func inChunks(_ count: Int, _ body: (_ start: Int, _ length: Int) -> Void) {
        let chunk = 1 << 16
        guard count >= 2 * chunk, BLAS.threadCount > 1 else {
            body(0, count)
            return
        }
        BLAS.forEachInParallel((count + chunk - 1) / chunk) { _, index in
            body(index * chunk, Swift.min(chunk, count - index * chunk))
        }
    }

    @inline(__always)
    package static func sgdMomentum(
        _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Float>,
        count: Int, rate: Float, momentum: Float, decay: Float, nesterov: Bool, first: Bool
    ) {
        traced("sgdMomentum") {
            inChunks(count) { start, length in
                if first {
                    ck_sgd_momentum_first(p + start, g + start, v + start, length, rate, momentum, decay, nesterov ? 1 : 0)
                } else {
                    ck_sgd_momentum(p + start, g + start, v + start, length, rate, momentum, decay, nesterov ? 1 : 0)
                }
            }
        }
    }

    @inline(__always)
    package static func adam(
        _ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
        _ v: UnsafeMutablePointer<Float>, count: Int, beta1: Float, beta2: Float, stepSize: Float,
        rootCorrection2: Float, epsilon: Float, l2: Float, shrink: Float, decoupled: Bool
    ) {
        traced("adam") {
            inChunks(count) { start, length in
                ck_adam(
                    p + start, g + start, m + start, v + start, length, beta1, beta2, stepSize, rootCorrection2, epsilon, l2, shrink,
                    decoupled ? 1 : 0)
            }
        }
    }

    @inline(__always)
    package static func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        traced("reluForward") {
            inChunks(count) { start, length in ck_relu_forward(x + start, y + start, length) }
        }
    }

    @inline(__always)
    package static func reluBackward(
        output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        inputGradient dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        traced("reluBackward") {
            inChunks(count) { start, length in ck_relu_backward(y + start, dy + start, dx + start, length) }
        }
    }

    /// Writes `bias` into every row of `output` (rows x width).
    @inline(__always)
    package static func broadcastRows(_ bias: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        traced("broadcastRows") {
            // In blocks of rows of about 64 Ki values (each row written whole by one thread).
            let block = Swift.max(1, (1 << 16) / Swift.max(1, width))
            guard rows >= 2 * block, BLAS.threadCount > 1 else { return ck_broadcast_rows(bias, output, rows, width) }
            BLAS.forEachInParallel((rows + block - 1) / block) { _, index in
                ck_broadcast_rows(bias, output + index * block * width, Swift.min(block, rows - index * block), width)
            }
        }
    }

    /// Column sums of `input` (rows x width) into `output`, added to it when `accumulate`.
    @inline(__always)
    package static func sumRows(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, rows: Int, width: Int,
        accumulate: Bool
    ) {
        traced("sumRows") {
            ck_sum_rows(input, output, rows, width, accumulate ? 1 : 0)
        }
    }

    /// `x *= factor`.
    @inline(__always)
    package static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        traced("scale") { inChunks(count) { start, length in ck_scale(x + start, length, factor) } }
    }

    /// `b += a`.
    @inline(__always)
    package static func add(_ a: UnsafePointer<Float>, to b: UnsafeMutablePointer<Float>, count: Int) {
        traced("add") { inChunks(count) { start, length in ck_add(a + start, b + start, length) } }
    }

    /// `b = a` (a gradient buffer saved or restored), on the compute threads when large.
    @inline(__always)
    package static func copy(_ a: UnsafePointer<Float>, to b: UnsafeMutablePointer<Float>, count: Int) {
        traced("copy") { inChunks(count) { start, length in (b + start).update(from: a + start, count: length) } }
    }

    /// `y = eˣ` element-wise (vectorised; NaN kept, -∞ to 0).
    @inline(__always)
    package static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        traced("exp") { inChunks(count) { start, length in ck_exp(x + start, y + start, length) } }
    }

    /// `y = 1 / (1 + e⁻ˣ)` element-wise.
    @inline(__always)
    package static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        traced("sigmoid") { inChunks(count) { start, length in ck_sigmoid(x + start, y + start, length) } }
    }

    /// One LSTM step of one sequence of `hidden` units: the activated gates, cell, tanh of the cell and hidden state
    /// (into `hiddenState` and `output`) from the gate pre-activations and the previous cell.
    package static func lstmCellForward(
        preactivation: UnsafePointer<Float>, previousCell: UnsafePointer<Float>, gates: UnsafeMutablePointer<Float>,
        cell: UnsafeMutablePointer<Float>, tanhCell: UnsafeMutablePointer<Float>, hiddenState: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        ck_lstm_cell_forward(preactivation, previousCell, gates, cell, tanhCell, hiddenState, output, hidden)
    }

    /// The backward of one LSTM step of one sequence: gate pre-activation gradients into `step` and `gateGradients`,
    /// `cellGradient` updated in place to the previous step's.
    package static func lstmCellBackward(
        gates: UnsafePointer<Float>, tanhCell: UnsafePointer<Float>, previousCell: UnsafePointer<Float>,
        hiddenGradient: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, cellGradient: UnsafeMutablePointer<Float>,
        step: UnsafeMutablePointer<Float>, gateGradients: UnsafeMutablePointer<Float>, hidden: Int
    ) {
        ck_lstm_cell_backward(gates, tanhCell, previousCell, hiddenGradient, outputGradient, cellGradient, step, gateGradients, hidden)
    }

    /// `y = tanh x` element-wise.
    @inline(__always)
    package static func tanh(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        traced("tanh") { inChunks(count) { start, length in ck_tanh(x + start, y + start, length) } }
    }

    /// `y = x·Φ(x)` element-wise (exact GELU).
    @inline(__always)
    package static func gelu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        traced("gelu") { inChunks(count) { start, length in ck_gelu(x + start, y + start, length) } }
    }

    /// `y = GELU(x)` and `derivative = GELU'(x)` element-wise, for a backward pass that is then `multiply`.
    @inline(__always)
    package static func geluWithDerivative(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>, count: Int
    ) {
        traced("gelu") { inChunks(count) { start, length in ck_gelu_with_derivative(x + start, y + start, derivative + start, length) } }
    }

    /// `out = a ⊙ b` element-wise.
    @inline(__always)
    package static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int) {
        traced("multiply") { inChunks(count) { start, length in ck_multiply(a + start, b + start, out + start, length) } }
    }

    /// `dx = dy · GELU'(x)` element-wise.
    @inline(__always)
    package static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int) {
        traced("geluBackward") {
            inChunks(count) { start, length in ck_gelu_backward(x + start, dy + start, dx + start, length) }
        }
    }

    /// Softmax cross-entropy of one row of logits against `label`: `weight · (softmax − onehot)` into `gradient`; returns
    /// the row's loss `log Σ exp(z − max) − (z[label] − max)`.
    @inline(__always)
    package static func crossEntropyRow(
        _ logits: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, classes: Int, label: Int, weight: Float
    ) -> Float {
        ck_cross_entropy_row(logits, gradient, classes, label, weight)
    }

    /// Layer normalisation of `rows` rows of `width`: `out = normalized · g + b`, keeping `normalized` and each row's
    /// inverse deviation for the backward pass.
    @inline(__always)
    package static func layerNormRows(
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, normalized: UnsafeMutablePointer<Float>,
        inverse: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, width: Int
    ) {
        ck_layer_norm_rows(x, gamma, beta, normalized, inverse, output, rows, width)
    }

    /// The layer normalisation backward of `rows` rows: `dx`, and the rows' scale and shift gradients added to
    /// `dGamma` and `dBeta` in row order.
    @inline(__always)
    package static func layerNormRowsBackward(
        _ dy: UnsafePointer<Float>, gamma: UnsafePointer<Float>, normalized: UnsafePointer<Float>, inverse: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>, rows: Int, width: Int
    ) {
        ck_layer_norm_rows_backward(dy, gamma, normalized, inverse, dx, dGamma, dBeta, rows, width)
    }

    /// Softmax of a row's first `visible` values in place; the rest of its `width` set to 0.
    @inline(__always)
    package static func softmaxRow(_ row: UnsafeMutablePointer<Float>, visible: Int, width: Int) { ck_softmax_row(row, visible, width) }

    /// The softmax backward of a row in place over `dy`: `p ⊙ (dy − Σ dy⊙p) · scale`.
    @inline(__always)
    package static func softmaxRowBackward(
        _ p: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, visible: Int, width: Int,
        scale: Float
    ) {
        ck_softmax_row_backward(p, dy, visible, width, scale)
    }

    /// `body`, recorded as an element-wise span when a trace is recorded.
    @inline(__always)
    static func traced(_ name: StaticString, _ body: () -> Void) {
        guard TraceLog.isRecording else { return body() }
        let lane = traceLane()
        TraceLog.measure(.elementwise, "\(name)", thread: lane.thread, owner: lane.owner, body)
    }
}
