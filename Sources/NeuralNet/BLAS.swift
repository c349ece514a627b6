import CBLAS
import Dispatch

/// The OpenBLAS library: thread count and the matrix product every layer uses.
///
/// The only file of NeuralNet that calls into C.
public enum BLAS {
    /// Threads OpenBLAS uses for each product (one per rank when ranks share the cores).
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// `C = alpha · op(A) · op(B) + beta · C` on row-major matrices, `op(A)` is `m x k`, `op(B)` is `k x n`.
    @inline(__always)
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int, beta: Float,
        _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m <= Int32.max && n <= Int32.max && k <= Int32.max, "matrix too large for BLAS")
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Runs `body(index)` for every index in `0..<count`, on up to `threadCount` threads with one BLAS thread each
    /// (each index wholly on one thread, so results do not depend on the thread count); `body(worker, index)` gets
    /// the worker number for per-thread scratch.
    package static func forEachInParallel(_ count: Int, _ body: (_ worker: Int, _ index: Int) -> Void) {
        let workers = Swift.min(threadCount, count)
        guard workers > 1 else {
            for index in 0..<count { body(0, index) }
            return
        }
        let saved = threadCount
        threadCount = 1
        defer { threadCount = saved }
        withoutActuallyEscaping(body) { body in
            // Each index is handed to exactly one worker, and the callers write disjoint parts of their buffers.
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var index = worker
                while index < count {
                    work(worker, index)
                    index += workers
                }
            }
        }
    }
}
