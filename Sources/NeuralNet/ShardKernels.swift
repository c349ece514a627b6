import CKernels
import Tracing

/// The products of a batch of consecutive virtual shards run in one pass with the bits of one pass per shard
/// (`ShardwiseKernelLayer`), on the compute threads: each task writes its own columns, and an element's sum never
/// depends on the task, thread or other rows, so the bits are the same on any thread count. With `Kernels.swift` and
/// `BLAS.swift`, the only code of NeuralNet that calls into C.
package enum ShardKernels {
    /// Products below this many multiply-adds run on the calling thread (a task costs more than they do).
    private static let parallelWork = 1 << 17

    /// `c[r] = a[r] · B (+ bias)` for `rows` rows, B `inner x columns`: `b` read as B, or as Bᵀ (`columns x inner`,
    /// a weight matrix) when `transposed`. Each row's values are the same whatever the other rows.
    package static func rowwiseProduct(
        _ a: UnsafePointer<Float>, rows: Int, inner: Int, _ b: UnsafePointer<Float>, transposed: Bool,
        bias: UnsafePointer<Float>?, _ c: UnsafeMutablePointer<Float>, columns: Int
    ) {
        Kernels.traced("rowwiseProduct") {
            let ldb = transposed ? inner : columns
            let block = 64
            let blocks = (columns + block - 1) / block
            let parallel = rows * inner * columns >= parallelWork && BLAS.threadCount > 1 && blocks > 1
            func run(_ start: Int, _ end: Int) {
                let status = ck_rowwise_product(
                    a, inner, b, ldb, transposed ? 1 : 0, bias, c, columns, rows, inner, start, end)
                precondition(status == 0, "out of memory for a product's packing buffer")
            }
            guard parallel else { return run(0, columns) }
            BLAS.forEachInParallel(blocks) { _, index in run(index * block, Swift.min(columns, (index + 1) * block)) }
        }
    }

    /// The weight gradient `dW` (`outputs x inputs`) of `shards` shards of `rowsPerShard` rows: each shard's
    /// `Σ dyᵀ x` over its rows, the shards' sums added in their binary tree; `db` the same tree of column sums of dy.
    package static func shardTreeGradients(
        outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, weightGradient dw: UnsafeMutablePointer<Float>,
        biasGradient db: UnsafeMutablePointer<Float>?, outputs: Int, inputs: Int, shards: Int, rowsPerShard: Int
    ) {
        precondition(shards > 0 && shards <= 1 << 16 && shards & (shards - 1) == 0, "the shards of a tree are a power of two")
        Kernels.traced("shardTreeGradients") {
            if let db { ck_shard_tree_column_sums(dy, outputs, db, shards, rowsPerShard, 0, outputs) }
            let block = 32
            let blocks = (outputs + block - 1) / block
            let parallel = shards * rowsPerShard * inputs * outputs >= parallelWork && BLAS.threadCount > 1 && blocks > 1
            func run(_ start: Int, _ end: Int) {
                ck_shard_tree_outer(dy, outputs, x, inputs, dw, inputs, shards, rowsPerShard, start, end, inputs)
            }
            guard parallel else { return run(0, outputs) }
            BLAS.forEachInParallel(blocks) { _, index in run(index * block, Swift.min(outputs, (index + 1) * block)) }
        }
    }

    /// Makes the calling thread's kernels use an instance (0 baseline, 1 AVX2 with FMA, 2 AVX-512), or the best the CPU
    /// has below it (a negative value: the best again); other threads keep the best. Returns the thread's instance. For
    /// tests that compare the instances on one thread.
    package static func useInstance(_ wanted: Int) -> Int { Int(ck_shard_kernels_use(Int32(wanted))) }
}

/// A matrix packed once into the panels of our product kernels, for a product repeated at every step of a recurrence
/// (the recurrent weights of an LSTM or GRU): `c = a · B` row by row, each row's values independent of the other rows,
/// without repacking B at each step as a BLAS call does.
package final class PackedPanels {
    /// Rows of B (the inner dimension of the product) and its columns.
    package let inner: Int
    package let columns: Int
    private let packed: UnsafeMutablePointer<Float>
    /// The panel width the matrix was packed for (it names the kernels that read it).
    private let width: Int

    /// B `inner x columns` from `b`, read as B (row stride `ldb`) or, when `transposed`, as Bᵀ (`columns x inner`).
    package init(_ b: UnsafePointer<Float>, ldb: Int, transposed: Bool, inner: Int, columns: Int) {
        precondition(inner > 0 && columns > 0, "an empty matrix has no panels")
        self.inner = inner
        self.columns = columns
        width = ck_packed_panel_width()
        let count = inner * ((columns + width - 1) / width * width)
        packed = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        ck_pack_panels(b, ldb, transposed ? 1 : 0, inner, columns, width, packed)
    }

    deinit { packed.deallocate() }

    /// `c[r] = a[r] · B` (or `c[r] += a[r] · B` when `accumulate`: the product summed first, then added) for `rows`
    /// rows, on the calling thread.
    package func product(
        _ a: UnsafePointer<Float>, lda: Int, rows: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        Kernels.traced("packedProduct") {
            ck_packed_product(a, lda, packed, width, inner, c, ldc, rows, accumulate ? 1 : 0, 0, columns)
        }
    }
}
