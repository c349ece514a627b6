import Autodiff
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

/// The B9/B10 text: every file of /usr/share/common-licenses but GFDL (a link to a version), concatenated as bytes.
func licenseCorpus() throws -> TextCorpus {
    let directory = "/usr/share/common-licenses"
    let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasSuffix("GFDL") }.sorted()
    var bytes: [UInt8] = []
    for name in names {
        let path = directory + "/" + name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
        bytes += [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
    return try TextCorpus(bytes: bytes, source: directory)
}

/// One rank of B9 (`lstm-worker`: the TBPTT trainer, embedding 64, LSTM 256, sequences of 256 in chunks of 32,
/// batch 32 per rank, Adam 2e-3) or B10 (`gpt-worker`: context 128, width 128, 4 heads, 2 blocks, batch 32 per rank,
/// AdamW 1e-3 decay 0.1), as PyTorch's torch_sequence.py: rank 0 prints
/// `result tokens_per_s=... loss=... matmul_share=...` over `--steps` iterations after 10 of warm-up.
func runSequenceWorker(kind: String, arguments: [String]) throws {
    func value(_ name: String, _ fallback: Int) -> Int {
        arguments.firstIndex(of: name).flatMap { arguments.indices.contains($0 + 1) ? Int(arguments[$0 + 1]) : nil } ?? fallback
    }
    let communicator: any Communicator = MPICommunicator.isLaunchedByMPI ? try MPICommunicator.initialize() : LocalCommunicator()
    BLAS.threadCount = value("--threads", 1)
    // `--micro-batches N`: the trainer's micro-batch count (0 or absent: the automatic policy).
    let microBatching = value("--micro-batches", 0) > 0 ? MicroBatching.count(value("--micro-batches", 0)) : .automatic
    let steps = value("--steps", 30)
    let warm = 10
    let batch = 32
    let sequence = kind == "lstm" ? 256 : 128
    let corpus = try licenseCorpus()
    // `--starts FILE`: the windows PyTorch's reference draws (one line of start offsets per batch), in its order, so
    // that both train on the same batches and their final losses compare like for like.
    let startsPath = arguments.firstIndex(of: "--starts").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
    let windows =
        try startsPath.map { try windowsAt(starts: $0, in: corpus, context: sequence) }
        ?? corpus.languageModelWindows(context: sequence, validationFraction: 0, seed: 0).train
    var random = CounterRandom(seed: 0, stream: 1)
    let model: any Model
    let optimizer: any Optimizer
    let trainer: Engine<SupervisedBatch, SupervisedOutput>
    if kind == "lstm" {
        let lstm = try AutodiffRecurrentModel(
            RecurrentLanguageModel(vocabulary: 256, embeddingWidth: 64, hidden: 256, random: &random),
            outputShape: [256])
        model = lstm
        optimizer = Adam(arena: lstm.arena, learningRate: 2e-3)
        trainer = makeTruncatedBPTTTrainer(
            model: lstm, optimizer: optimizer, loss: SequenceCrossEntropy(classes: 256), chunkLength: 32,
            microBatching: microBatching)
    } else {
        model = try AutodiffModel(
            GPT(vocabulary: 256, context: sequence, width: 128, heads: 4, layers: 2, random: &random),
            inputShape: [sequence], outputShape: [sequence, 256])
        optimizer = AdamW(arena: model.arena, learningRate: 1e-3, weightDecay: 0.1)
        trainer = makeSupervisedTrainer(
            model: model, optimizer: optimizer, loss: SequenceCrossEntropy(classes: 256), microBatching: microBatching)
    }
    try DataParallel(communicator: communicator).attach(to: trainer, model: model, optimizer: optimizer)
    let recorder = try profileRecorder(arguments, trainer: trainer, communicator: communicator)
    var start = 0.0
    try trainer.on(.iterationStarted(once: warm + 1)) { _ in
        try communicator.barrier()
        start = monotonicSeconds()
    }
    let loader = try DataLoader(
        dataset: windows, batchSize: batch,
        sampler: DistributedSampler(
            count: windows.count, worldSize: communicator.size, rank: communicator.rank, seed: 0, shuffle: startsPath == nil))
    try trainer.run(loader, maxIterations: warm + steps)
    let seconds = monotonicSeconds() - start
    let tokens = Double(steps * batch * sequence * communicator.size)
    if communicator.rank == 0 {
        print(
            "result tokens_per_s=\(format(tokens / seconds)) loss=\(format(Double(trainer.state.output!.loss), 3)) "
                + "steps=\(steps) parameters=\(model.parameterCount) ranks=\(communicator.size)")
    }
    printProfile(recorder, communicator: communicator)
    (communicator as? MPICommunicator)?.finalize()
}

/// The windows of `context` tokens (targets shifted by one) starting at the offsets listed in the file at `path`,
/// in the file's order.
func windowsAt(starts path: String, in corpus: TextCorpus, context: Int) throws -> Dataset {
    let starts = try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: { $0 == " " || $0 == "\n" }).map { text in
        guard let start = Int(text), start >= 0, start + context + 1 <= corpus.bytes.count else {
            throw BenchmarkError("\(path): '\(text)' is not a window start in the corpus")
        }
        return start
    }
    var features: [Float] = []
    var targets: [Float] = []
    for start in starts {
        features += corpus.bytes[start..<start + context].map(Float.init)
        targets += corpus.bytes[start + 1..<start + context + 1].map(Float.init)
    }
    var windows = Dataset(
        features: features, featureCount: context, labels: [Int32](repeating: 0, count: starts.count),
        classNames: (0..<TextCorpus.vocabulary).map { String($0) }, sampleShape: [context])
    windows.sequenceTargets = targets
    windows.sequenceTargetLength = context
    return windows
}

/// The start offsets of the batches PyTorch's reference draws (`torch_sequence.py`'s generator, seeded 0), one line per
/// batch, written to a file; nil without PyTorch.
func torchWindowStarts(_ runner: BenchmarkRunner, context: Int, batches: Int) throws -> String? {
    guard let python = ProcessInfo.processInfo.environment["SWIFT_TRAIN_TORCH_PYTHON"] else { return nil }
    let script = """
        import glob, torch
        text = b"".join(open(f, "rb").read() for f in sorted(glob.glob("/usr/share/common-licenses/*")) if not f.endswith("GFDL"))
        g = torch.Generator().manual_seed(0)
        for _ in range(\(batches)):
            print(" ".join(str(i) for i in torch.randint(0, len(text) - \(context) - 1, (32,), generator=g).tolist()))
        """
    let text = try runner.output(of: [python, "-c", script], ranks: 1, threads: 1)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("swift-train-starts-\(context)-\(getpid()).txt").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// B9 and B10: tokens/s at n = 1 (2 BLAS threads), 2 and 4 ranks under mpirun, beside PyTorch's figure at 2 threads
/// measured in the same run (`ratio_to_torch` at n = 1; n = 2 against n = 1 on the same cores).
func runSequenceBenchmark(_ runner: BenchmarkRunner, kind: String) throws {
    let name = kind == "lstm" ? "lstm_tbptt" : "gpt"
    let steps = Int(ProcessInfo.processInfo.environment["BENCH_SEQUENCE_STEPS"] ?? "") ?? 30
    var torch: [Double] = []
    var torchLosses: [Double] = []
    var ours: [Int: [Double]] = [:]
    var losses: [String] = []
    // One process trains on PyTorch's own batches (when PyTorch is here), so the final losses are of the same batch.
    let starts = try torchWindowStarts(runner, context: kind == "lstm" ? 256 : 128, batches: steps + 10)
    defer { if let starts { try? FileManager.default.removeItem(atPath: starts) } }
    for _ in 0..<runner.repeats {
        for ranks in [1, 2, 4] {
            let threads = ranks == 1 ? 2 : 1
            let sameBatches = ranks == 1 ? starts.map { ["--starts", $0] } ?? [] : []
            let output = try runner.output(
                of: [runner.benchPath, "\(kind)-worker", "--threads", "\(threads)", "--steps", "\(steps)"] + sameBatches,
                ranks: ranks, threads: threads)
            ours[ranks, default: []].append(try runner.field("tokens_per_s", in: output))
            if ranks == 1, let range = output.range(of: "loss=") { losses.append(String(output[range.upperBound...].prefix { !$0.isWhitespace })) }
        }
        if let run = try torchRun(runner, model: kind, threads: 2, steps: steps) {
            torch.append(run.tokensPerSecond)
            if let loss = run.loss { torchLosses.append(loss) }
        }
    }
    for ranks in [1, 2, 4] {
        let mine = median(ours[ranks]!)
        var fields: [(String, String)] = [("world_size", "\(ranks)"), ("tokens_per_s", format(mine))]
        if ranks == 1 {
            if torch.isEmpty {
                fields.append(("torch", "unavailable"))
            } else {
                fields += [
                    ("torch_tokens_per_s", format(median(torch))), ("ratio_to_torch", format(mine / median(torch), 2)),
                    ("target_ratio", "1.2"), ("loss_after_steps", losses.last ?? "?"),
                    ("torch_loss_after_steps", torchLosses.last.map { format($0, 3) } ?? "?"),
                    ("same_batches", starts == nil ? "no" : "yes")
                ]
            }
        } else {
            fields.append(("ratio_to_n1", format(mine / median(ours[1]!), 2)))
        }
        fields.append(("repeats", "\(runner.repeats)"))
        print((["bench", name] + fields.map { "\($0.0)=\($0.1)" }).joined(separator: " "))
        fflush(nil)
    }
}
