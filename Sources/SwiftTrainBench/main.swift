import Foundation

// swift-train-bench: the benchmarks of BENCHMARKS.md (launch/bench runs it). With no argument, all of them;
// `profile [digits|mnist|lstm|gpt ...]` prints where a step's time goes instead.
// Worker modes (run by the benchmarks, under mpirun): digits-worker, mnist-worker, allreduce-worker,
// allreduce-verify, idist-verify.
let allBenchmarks = ["engine", "digits", "mnist", "allreduce", "memory", "differentiable", "virtual-shards", "attention", "lstm", "gpt"]
var requested = Array(CommandLine.arguments.dropFirst())
if requested.isEmpty { requested = allBenchmarks }
do {
    switch requested[0] {
    case "allreduce-verify":
        try runCollectiveVerification(arguments: Array(requested.dropFirst()))
        exit(0)
    case "idist-verify":
        try runIdistVerification(arguments: Array(requested.dropFirst()))
        exit(0)
    case "digits-worker", "mnist-worker":
        try runTrainingWorker(kind: String(requested[0].prefix { $0 != "-" }), arguments: Array(requested.dropFirst()))
        exit(0)
    case "lstm-worker", "gpt-worker":
        try runSequenceWorker(kind: String(requested[0].prefix { $0 != "-" }), arguments: Array(requested.dropFirst()))
        exit(0)
    case "allreduce-worker":
        try runAllReduceWorker(arguments: Array(requested.dropFirst()))
        exit(0)
    default: break
    }
    let runner = BenchmarkRunner()
    print("bench machine \(machineDescription())")
    if requested[0] == "profile" {
        try runProfileBenchmark(runner, names: Array(requested.dropFirst()))
        exit(0)
    }
    if runner.mlpStepPath == nil {
        FileHandle.standardError.write(Data("swift-train-bench: SWIFT_TRAIN_MLP_STEP not set: no C baseline figures\n".utf8))
    }
    for name in requested {
        switch name {
        case "engine":
            let iterations = ProcessInfo.processInfo.environment["BENCH_ENGINE_ITERATIONS"].flatMap { Int($0) } ?? 1_000_000
            try runEngineOverheadBenchmark(iterations: iterations, repeats: iterations < 1_000_000 ? 1 : 7)
        case "digits": try runDigitsBenchmark(runner)
        case "mnist": try runMNISTBenchmark(runner)
        case "allreduce": try runAllReduceBenchmark(runner)
        case "memory": try runMemoryBenchmark(runner)
        case "differentiable": try runDifferentiableBenchmark(runner)
        case "virtual-shards": try runVirtualShardsBenchmark(runner)
        case "attention": try runAttentionBenchmark(runner)
        case "lstm", "gpt": try runSequenceBenchmark(runner, kind: name)
        default:
            FileHandle.standardError.write(
                Data("swift-train-bench: unknown benchmark '\(name)' (known: \(allBenchmarks.joined(separator: ", ")))\n".utf8))
            exit(2)
        }
    }
} catch {
    FileHandle.standardError.write(Data("swift-train-bench: \(error)\n".utf8))
    exit(1)
}
