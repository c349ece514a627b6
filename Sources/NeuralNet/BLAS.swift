import CBLAS
import CKernels
import Tracing

/// The process's compute threads and the matrix product every layer uses.
///
/// Products large enough to share are cut into column (or row) panels by their shape alone, and the panels run on
/// the compute threads with OpenBLAS at one thread each: the same panels on any thread count, so results never
/// depend on how many cores a process has. With `Kernels.swift`, the only file of NeuralNet that calls into C.
public enum BLAS {
    /// Compute threads of this process (one per core it may use; one per rank when ranks share the cores).
    public static var threadCount: Int {
        get { Int(ck_parallel_threads()) }
        set {
            _ = libraryPinned
            ck_parallel_set_threads(Int32(Swift.max(1, Swift.min(newValue, 257))))
        }
    }

    /// OpenBLAS runs every panel on one thread; the parallelism is ours, so its own pool is stopped (its idle workers
    /// would spin beside ours).
    private static let libraryPinned: Void = {
        openblas_set_num_threads(1)
        ck_stop_blas_pool()
    }()

    /// `C = alpha · op(A) · op(B) + beta · C` on row-major matrices, `op(A)` is `m x k`, `op(B)` is `k x n`.
    @inline(__always)
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float,
        _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m <= Int32.max && n <= Int32.max && k <= Int32.max, "matrix too large for BLAS")
        _ = libraryPinned
        guard !TraceLog.isRecording else {
            let start = TraceLog.now()
            let lane = traceLane()
            defer { TraceLog.record(.matmul, "sgemm \(m)x\(n)x\(k)", since: start, thread: lane.thread, owner: lane.owner) }
            return panelledProduct(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
        panelledProduct(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    @inline(__always)
    private static func panelledProduct(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        let panels = ProductPanels(m: m, n: n, k: k)
        guard panels.count > 1 else {
            product(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        // A panel's `beta = 0` is done here (OpenBLAS would clear a strided panel in a separate slow pass).
        let clears = beta == 0
        forEachInParallel(panels.count) { _, panel in
            let range = panels.range(panel)
            if panels.alongColumns {
                let target = c + range.lowerBound
                if clears { for row in 0..<m { (target + row * ldc).update(repeating: 0, count: range.count) } }
                product(
                    transposeA, transposeB, m, range.count, k, alpha, a, lda,
                    b + (transposeB ? range.lowerBound * ldb : range.lowerBound), ldb, clears ? 1 : beta, target, ldc)
            } else {
                let target = c + range.lowerBound * ldc
                if clears { for row in 0..<range.count { (target + row * ldc).update(repeating: 0, count: n) } }
                product(
                    transposeA, transposeB, range.count, n, k, alpha, a + (transposeA ? range.lowerBound : range.lowerBound * lda),
                    lda, b, ldb, clears ? 1 : beta, target, ldc)
            }
        }
    }

    @inline(__always)
    private static func product(
        _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Runs `body(worker, index)` for every index in `0..<count` on the compute threads, each index wholly on one
    /// thread (so results do not depend on the thread count); `worker` (below `threadCount`) picks per-thread
    /// scratch. Called from inside such a body, it runs the indices in order on the calling thread.
    package static func forEachInParallel(_ count: Int, _ body: (_ worker: Int, _ index: Int) -> Void) {
        guard count > 1, ck_parallel_threads() > 1, ck_parallel_inside_task() == 0 else {
            let worker = Int(ck_parallel_worker())
            for index in 0..<count { body(worker, index) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var task = body
            withUnsafeMutablePointer(to: &task) { pointer in
                ck_parallel_for(
                    count,
                    { context, index, worker in
                        context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(worker), index)
                    }, pointer)
            }
        }
    }
}

/// How a product is cut for the compute threads, from its shape alone: an output of 256 rows or more into blocks of
/// rows (contiguous, so no two threads write one cache line; at least 128 rows each), a shorter one (a batch) into
/// panels of columns (at least 256 wide); up to eight, a multiple of 16 each, each about two million operations or more.
package struct ProductPanels {
    package let alongColumns: Bool
    package let width: Int
    package let count: Int
    private let extent: Int

    package init(m: Int, n: Int, k: Int) {
        alongColumns = m < 256
        extent = alongColumns ? n : m
        let operations = 2 * m * n * k
        var pieces = Swift.max(1, Swift.min(8, extent / (alongColumns ? 256 : 128), operations >> 21))
        while pieces & (pieces - 1) != 0 { pieces &= pieces - 1 }
        width = pieces == 1 ? extent : ((extent + pieces - 1) / pieces + 15) / 16 * 16
        count = pieces == 1 ? 1 : (extent + width - 1) / width
    }

    package func range(_ panel: Int) -> Range<Int> { (panel * width)..<Swift.min(extent, (panel + 1) * width) }
}

/// The compute thread a span is recorded on, and for a pool worker the thread whose work it runs.
@inline(__always)
func traceLane() -> (thread: Int, owner: UInt?) {
    let worker = Int(ck_parallel_worker())
    return worker == 0 ? (0, nil) : (worker, UInt(ck_parallel_caller()))
}
