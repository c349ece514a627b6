import CBLAS
import Foundation

/// The machine's ceiling: GFLOP/s of an `size`³ `cblas_sgemm` with OpenBLAS's own `threads` threads (median).
func measureSGEMMGigaflops(threads: Int, size: Int = 1024, repeats: Int = 5) -> Double {
    openblas_set_num_threads(Int32(threads))
    defer { openblas_set_num_threads(1) }
    let a = [Float](repeating: 0.5, count: size * size)
    let b = [Float](repeating: 0.25, count: size * size)
    var c = [Float](repeating: 0, count: size * size)
    var rates: [Double] = []
    for _ in 0..<(repeats + 1) {
        let start = monotonicSeconds()
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(size), Int32(size), Int32(size), 1, a, Int32(size),
            b, Int32(size), 0, &c, Int32(size))
        rates.append(2 * pow(Double(size), 3) / (monotonicSeconds() - start) / 1e9)
    }
    return median(Array(rates.dropFirst()))
}
