import ChildProcesses
import Foundation
import NeuralNet

/// Runs benchmark workers and the plain-C baseline as child processes (under mpirun for several ranks).
struct BenchmarkRunner {
    let benchPath: String
    let mlpStepPath: String?
    let repeats: Int

    init() {
        benchPath = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let environment = ProcessInfo.processInfo.environment
        mlpStepPath = environment["SWIFT_TRAIN_MLP_STEP"].flatMap { FileManager.default.isExecutableFile(atPath: $0) ? $0 : nil }
        repeats = environment["BENCH_REPEATS"].flatMap(Int.init) ?? 3
    }

    /// The command line for `command` on `ranks` ranks with `threads` BLAS threads each.
    func launch(_ command: [String], ranks: Int, threads: Int, tcp: Bool = false) -> (arguments: [String], environment: [String: String]) {
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = String(threads)
        environment["OMP_NUM_THREADS"] = String(threads)
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        guard ranks > 1 || tcp else { return (command, environment) }
        var arguments = [
            "mpirun", "-n", String(ranks), "--oversubscribe", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS",
            "-x", "OMP_NUM_THREADS"
        ]
        if tcp { arguments += ["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"] }
        return (arguments + command, environment)
    }

    /// Runs a command and returns its standard output; throws with its standard error when it fails.
    func output(of command: [String], ranks: Int, threads: Int, tcp: Bool = false) throws -> String {
        let (arguments, environment) = launch(command, ranks: ranks, threads: threads, tcp: tcp)
        let run = try ChildProcess.capture(arguments, environment: environment)
        guard run.termination.succeeded else {
            throw BenchmarkError(
                "\(arguments.joined(separator: " ")) failed (\(run.termination)): "
                    + String(decoding: run.standardError.suffix(600), as: UTF8.self))
        }
        return String(decoding: run.standardOutput, as: UTF8.self)
    }

    /// The number after `key=` in the last line of `text` that has it.
    func field(_ key: String, in text: String) throws -> Double {
        for line in text.split(separator: "\n").reversed() {
            for token in line.split(separator: " ") where token.hasPrefix(key + "=") {
                if let value = Double(token.dropFirst(key.count + 1)) { return value }
            }
        }
        throw BenchmarkError("no \(key)= in output: \(text.suffix(300))")
    }

    /// Medians of ours, of the C baseline and of PyTorch + Ignite (`torch_mlp.py --model torchModel`), run alternately
    /// `repeats` times; a reference that cannot run here is nil.
    func alternate(ours: [String], baseline: [String]?, torchModel: String? = nil, ranks: Int, threads: Int)
        throws -> (ours: [String], c: Double?, torch: Double?)
    {
        var oursOutputs: [String] = []
        var cRates: [Double] = []
        var torchRates: [Double] = []
        for _ in 0..<repeats {
            oursOutputs.append(try output(of: [benchPath] + ours, ranks: ranks, threads: threads))
            if let baseline, let mlpStepPath {
                cRates.append(try field("samples_per_s", in: output(of: [mlpStepPath] + baseline, ranks: ranks, threads: threads)))
            }
            if let torchModel, let rate = torchMLP(torchModel, ranks: ranks, threads: threads) { torchRates.append(rate) }
        }
        return (oursOutputs, cRates.isEmpty ? nil : median(cRates), torchRates.isEmpty ? nil : median(torchRates))
    }

    /// Whether PyTorch can be run (launch/bench sets `SWIFT_TRAIN_TORCH_PYTHON` when it imports torch and Ignite).
    var torchAvailable: Bool { ProcessInfo.processInfo.environment["SWIFT_TRAIN_TORCH_PYTHON"] != nil }

    /// PyTorch + Ignite's samples/s for B2 (`digits`) or B3 (`mnist`) at `ranks` ranks, or nil (said on stderr).
    func torchMLP(_ model: String, ranks: Int, threads: Int) -> Double? {
        let environment = ProcessInfo.processInfo.environment
        guard let python = environment["SWIFT_TRAIN_TORCH_PYTHON"], let shared = environment["SWIFT_TRAIN_SHARED"] else { return nil }
        let script = environment["SWIFT_TRAIN_TORCH_MLP"] ?? "launch/baselines/torch_mlp.py"
        do {
            return try field(
                "samples_per_s",
                in: output(
                    of: [
                        python, script, "--model", model, "--threads", "\(threads)",
                        "--digits", shared + "/data/digits.csv"
                    ], ranks: ranks, threads: threads))
        } catch {
            FileHandle.standardError.write(Data("swift-train-bench: PyTorch reference failed: \(error)\n".utf8))
            return nil
        }
    }
}

/// The `ratio_to_torch` fields of a line: PyTorch's figure from the same run and our ratio to it, or why there is none.
func torchFields(_ ours: Double, _ torch: Double?, available: Bool) -> [(String, String)] {
    guard let torch else { return [("torch", available ? "failed" : "unavailable")] }
    return [("torch_samples_per_s", format(torch)), ("ratio_to_torch", format(ours / torch, 2))]
}

/// Prints one benchmark line from ordered fields.
func report(_ name: String, _ fields: [(String, String)]) {
    print((["bench", name] + fields.map { "\($0.0)=\($0.1)" }).joined(separator: " "))
    fflush(nil)
}

/// B2: the digits MLP at world sizes 1, 2, 4, beside the C baseline and PyTorch + Ignite run alternately with it.
func runDigitsBenchmark(_ runner: BenchmarkRunner) throws {
    for ranks in [1, 2, 4] {
        let (outputs, c, torch) = try runner.alternate(
            ours: ["digits-worker", "--threads", "1"],
            baseline: ["32", "3000", "64", "128", "128", "10"], torchModel: "digits",
            ranks: ranks, threads: 1)
        let rate = median(try outputs.map { try runner.field("samples_per_s", in: $0) })
        let accuracy = median(try outputs.map { try runner.field("test_accuracy", in: $0) })
        report(
            "digits_mlp",
            [
                ("world_size", "\(ranks)"), ("samples_per_s", format(rate)), ("test_accuracy", format(accuracy, 4)),
                ("c_samples_per_s", c.map { format($0) } ?? "n/a"), ("ratio_to_c", c.map { format(rate / $0, 2) } ?? "n/a")
            ]
                + torchFields(rate, torch, available: runner.torchAvailable) + [
                    ("target_ratio_to_torch", "10"),
                    ("threads_per_rank", "1"), ("repeats", "\(runner.repeats)")
                ])
    }
}

/// B3: the MNIST-sized MLP at world sizes 1, 2, 4, with GFLOP/s against the sgemm ceiling, beside the C baseline and
/// PyTorch + Ignite.
func runMNISTBenchmark(_ runner: BenchmarkRunner) throws {
    let ceiling = measureSGEMMGigaflops(threads: 2)
    for ranks in [1, 2, 4] {
        let threads = ranks == 1 ? 2 : 1
        let (outputs, c, torch) = try runner.alternate(
            ours: ["mnist-worker", "--threads", "\(threads)"],
            baseline: ["64", "600", "784", "512", "512", "10"], torchModel: "mnist",
            ranks: ranks, threads: threads)
        let rate = median(try outputs.map { try runner.field("samples_per_s", in: $0) })
        let parameters = try runner.field("parameters", in: outputs[0])
        let gflops = 6 * parameters * rate / 1e9
        report(
            "mnist_mlp",
            [
                ("world_size", "\(ranks)"), ("samples_per_s", format(rate)), ("gflops", format(gflops, 1)),
                ("sgemm_gflops", format(ceiling, 1)), ("ratio_to_ceiling", format(gflops / ceiling, 2)),
                ("target_ratio_to_ceiling", "0.85"),
                ("c_samples_per_s", c.map { format($0) } ?? "n/a"), ("ratio_to_c", c.map { format(rate / $0, 2) } ?? "n/a")
            ]
                + torchFields(rate, torch, available: runner.torchAvailable)
                + [("threads_per_rank", "\(threads)"), ("repeats", "\(runner.repeats)")])
    }
}

/// B4: gradient synchronisation against a bare MPI_Allreduce, n = 2 and 4, shared memory and TCP.
func runAllReduceBenchmark(_ runner: BenchmarkRunner) throws {
    for ranks in [2, 4] {
        for tcp in [false, true] {
            let text = try runner.output(of: [runner.benchPath, "allreduce-worker"], ranks: ranks, threads: 1, tcp: tcp)
            let framework = try runner.field("framework_us", in: text)
            let bare = try runner.field("mpi_us", in: text)
            report(
                "allreduce",
                [
                    "world_size": "\(ranks)", "transport": tcp ? "tcp" : "shm", "floats": "669706",
                    "framework_us": format(framework, 1), "mpi_us": format(bare, 1), "ratio": format(framework / bare, 3),
                    "calls_per_step": "1"
                ])
        }
    }
}

/// B5: peak resident memory of one B3 rank against the bytes that must be resident.
func runMemoryBenchmark(_ runner: BenchmarkRunner) throws {
    let text = try runner.output(of: [runner.benchPath, "mnist-worker", "--threads", "2"], ranks: 1, threads: 2)
    let peak = try runner.field("peak_rss_kb", in: text) * 1024
    let parameters = 669_706.0
    let batch = 64.0
    let data = 60_000 * 784 * 4 + 60_000 * 4.0
    let state = parameters * 4 * 3
    let activations = batch * (784 + 2 * (512 + 512 + 10)) * 4 + batch * 10 * 4
    let required = data + state + activations
    report(
        "memory",
        [
            "world_size": "1", "peak_rss_mib": format(peak / 1_048_576, 1), "required_mib": format(required / 1_048_576, 1),
            "ratio": format(peak / required, 2), "reference_ignite_mib": "900", "target_ratio": "1.5"
        ])
}

/// B7: the B2 and B3 MLPs written as differentiable models, alternated with the built-in ones in the same run (n=1).
func runDifferentiableBenchmark(_ runner: BenchmarkRunner) throws {
    for (kind, name, threads) in [("digits", "digits_differentiable", 1), ("mnist", "mnist_differentiable", 2)] {
        var builtIn: [Double] = []
        var differentiable: [Double] = []
        var arrays: [Double] = []
        for _ in 0..<runner.repeats {
            let common = ["\(kind)-worker", "--threads", "\(threads)"]
            builtIn.append(try runner.field("samples_per_s", in: try runner.output(of: [runner.benchPath] + common, ranks: 1, threads: threads)))
            differentiable.append(
                try runner.field(
                    "samples_per_s",
                    in: try runner.output(
                        of: [runner.benchPath] + common + ["--differentiable"], ranks: 1, threads: threads)))
            arrays.append(
                try runner.field(
                    "samples_per_s",
                    in: try runner.output(
                        of: [runner.benchPath] + common + ["--differentiable", "--array-layers"], ranks: 1, threads: threads)))
        }
        let ours = median(differentiable)
        let theirs = median(builtIn)
        report(
            name,
            [
                "samples_per_s": format(ours), "builtin_samples_per_s": format(theirs), "ratio_to_builtin": format(ours / theirs, 2),
                "array_of_layers_ratio": format(median(arrays) / theirs, 2),
                "target_ratio": "0.9", "threads": "\(threads)", "repeats": "\(runner.repeats)"
            ])
    }
}

/// B8: B2 and B3 with `--virtual-shards 8` (the same global batch in 8 micro-batches, as many compute threads as the
/// default mode, the tree reduction) against the default mode, alternated in the same run at n = 1, 2, 4; also the two pairwise
/// exchanges (recursive doubling, gather then sum) at n = 2 and 4.
func runVirtualShardsBenchmark(_ runner: BenchmarkRunner) throws {
    for (kind, name, batch) in [("digits", "virtual_shards_digits", 32), ("mnist", "virtual_shards_mnist", 64)] {
        for ranks in [1, 2, 4] {
            let threads = kind == "mnist" && ranks == 1 ? 2 : 1
            var plain: [Double] = []
            var sharded: [Double] = []
            var gathered: [Double] = []
            var small: [Double] = []
            for _ in 0..<runner.repeats {
                let common = [runner.benchPath, "\(kind)-worker"]
                plain.append(
                    try runner.field("samples_per_s", in: runner.output(of: common + ["--threads", "\(threads)"], ranks: ranks, threads: threads)))
                sharded.append(
                    try runner.field(
                        "samples_per_s",
                        in: runner.output(
                            of: common + ["--threads", "\(threads)", "--virtual-shards", "8"], ranks: ranks, threads: threads)))
                if ranks == 1 {
                    // Where the time goes: the default mode with the micro-batch as its batch (the small products alone).
                    small.append(
                        try runner.field(
                            "samples_per_s",
                            in: runner.output(
                                of: common + ["--threads", "1", "--batch", "\(batch / 8)"], ranks: 1, threads: 1)))
                }
                if ranks > 1 {
                    gathered.append(
                        try runner.field(
                            "samples_per_s",
                            in: runner.output(
                                of: common + ["--threads", "1", "--virtual-shards", "8", "--pairwise", "gather"], ranks: ranks, threads: 1)))
                }
            }
            let ours = median(sharded)
            let theirs = median(plain)
            report(
                name,
                [
                    "world_size": "\(ranks)", "virtual_samples_per_s": format(ours), "default_samples_per_s": format(theirs),
                    "ratio": format(ours / theirs, 2), "gather_samples_per_s": gathered.isEmpty ? "n/a" : format(median(gathered)),
                    "default_at_micro_batch_samples_per_s": small.isEmpty ? "n/a" : format(median(small)),
                    "micro_batch": "\(batch * ranks / 8)", "shards": "8", "default_threads": "\(threads)",
                    "repeats": "\(runner.repeats)"
                ])
        }
    }
}

/// Where the time goes: B2, B3 (n = 1 and 2) and B9, B10 (n = 1) with the library's trace recorder on 20 steps after
/// 5 of warm-up, as shares of a step; each run's Chrome trace (every rank) is written to `.build-bench/trace-NAME-nN.json`.
func runProfileBenchmark(_ runner: BenchmarkRunner, names: [String]) throws {
    try FileManager.default.createDirectory(atPath: ".build-bench", withIntermediateDirectories: true)
    let plans: [(name: String, worker: String, ranks: Int, threads: Int)] = [
        ("digits", "digits-worker", 1, 1), ("digits", "digits-worker", 2, 1), ("mnist", "mnist-worker", 1, 2),
        ("mnist", "mnist-worker", 2, 1), ("lstm", "lstm-worker", 1, 2), ("gpt", "gpt-worker", 1, 2)
    ]
    for plan in plans where names.isEmpty || names.contains(plan.name) {
        let trace = FileManager.default.currentDirectoryPath + "/.build-bench/trace-\(plan.name)-n\(plan.ranks).json"
        var command = [runner.benchPath, plan.worker, "--threads", "\(plan.threads)", "--profile", trace]
        if plan.worker.hasPrefix("lstm") || plan.worker.hasPrefix("gpt") { command += ["--steps", "25"] }
        let text = try runner.output(of: command, ranks: plan.ranks, threads: plan.threads)
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("profile ") }) else {
            throw BenchmarkError("\(plan.worker) printed no profile line")
        }
        print(
            "bench profile_\(plan.name) world_size=\(plan.ranks) threads_per_rank=\(plan.threads) \(line.dropFirst("profile ".count)) "
                + "trace=\(trace)")
        fflush(nil)
    }
}
