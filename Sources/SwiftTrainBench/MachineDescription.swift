import CBLAS
import Foundation

/// The machine a benchmark ran on, printed once as `bench machine ...` before any figure: the CPU model, its SIMD
/// flags, the core count and the BLAS library with its version and kernel (figures of different machines are not
/// comparable; ratios measured in one run are).
func machineDescription() -> String {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let lines = info.split(separator: "\n")
    let model =
        lines.first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last?
        .trimmingCharacters(in: .whitespaces) ?? "unknown"
    let flags = lines.first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
    let simd = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_tile"].filter(flags.contains)
    let config = String(cString: openblas_get_config()).split(separator: " ")
    let blas = config.prefix(2).joined(separator: " ")
    let kernel = String(cString: openblas_get_corename())
    return "cpu=\"\(model)\" simd=\(simd.isEmpty ? "none" : simd.joined(separator: ",")) "
        + "cores=\(ProcessInfo.processInfo.activeProcessorCount) blas=\"\(blas)\" blas_kernel=\(kernel)"
}
