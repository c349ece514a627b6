import Foundation

// swift-train-bench: the benchmarks of BENCHMARKS.md (launch/bench runs it). With no argument, all of them.
let allBenchmarks = ["engine"]
var requested = Array(CommandLine.arguments.dropFirst())
if requested.isEmpty { requested = allBenchmarks }
do {
    for name in requested {
        switch name {
        case "allreduce-verify":
            try runCollectiveVerification(arguments: Array(requested.dropFirst()))
            exit(0)
        case "engine":
            let iterations = ProcessInfo.processInfo.environment["BENCH_ENGINE_ITERATIONS"].flatMap { Int($0) } ?? 1_000_000
            try runEngineOverheadBenchmark(iterations: iterations, repeats: iterations < 1_000_000 ? 1 : 7)
        default:
            FileHandle.standardError.write(Data("swift-train-bench: unknown benchmark '\(name)' (known: \(allBenchmarks.joined(separator: ", ")))\n".utf8))
            exit(2)
        }
    }
} catch {
    FileHandle.standardError.write(Data("swift-train-bench: \(error)\n".utf8))
    exit(1)
}
