import ArgumentParser
import Foundation
import SwiftTrainApp
import Training

/// `swift-train [train]`: trains a model, alone, under mpirun, or on simulated ranks.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Train a model (the default command).")

    @Option(
        help:
            "Data set: builtin (generated digit glyphs), csv:PATH, idx:DIR (MNIST IDX files) or text:PATH (a language model over the file's bytes).",
        transform: DataSpecification.init(parsing:))
    var data = DataSpecification.builtin
    @Option(help: "CSV label column: a header name, or 'last'.", transform: LabelColumnSpecification.init(parsing:))
    var labelColumn = LabelColumnSpecification.last
    @Option(parsing: .unconditional, help: "Fraction of the data held out for testing (seeded split), in (0, 1).")
    var testFraction = 0.2
    @Option(help: "A separate test set (builtin, csv:PATH or idx:DIR); replaces --test-fraction.", transform: DataSpecification.init(parsing:))
    var testData: DataSpecification?
    @Option(
        help:
            "Model: mlp:H1,H2,... (ReLU hidden layers), cnn, resmlp:WIDTH,BLOCKS; for text: lstm:HIDDEN[,LAYERS], gru:HIDDEN[,LAYERS] or gpt:LAYERS,WIDTH,HEADS.",
        transform: ModelSpecification.init(parsing:))
    var model = ModelSpecification.multilayerPerceptron(hidden: [128, 128])
    @Option(help: "classification, regression or auto (decided from the labels and said on standard error).")
    var task: TaskOption = .auto
    @Option(parsing: .unconditional, help: "Number of epochs.")
    var epochs = 10
    @Option(parsing: .unconditional, help: "Samples per batch ON EACH RANK: the global batch is this times the number of ranks.")
    var batchSize = 32
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Split each global batch into K micro-shards of --batch-size samples, summed in a fixed tree: the same final bits for every world size that divides K (a power of two).",
            valueName: "K"))
    var virtualShards: Int?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Run each rank's batch as N micro-batches at once on its threads, one model replica each (differentiable models without running statistics, built-in layers), 1 to 64; default: 16 rows and 256 loss terms per micro-batch, at most 8.",
            valueName: "N"))
    var microBatches: Int?
    @Option(parsing: .unconditional, help: "Learning rate.")
    var lr = 0.05
    @Option(help: "Optimizer: sgd, adam or adamw.")
    var optimizer: OptimizerKind = .sgd
    @Option(parsing: .unconditional, help: "SGD momentum.")
    var momentum = 0.9
    @Option(parsing: .unconditional, help: "Weight decay.")
    var weightDecay = 0.0
    @Option(
        help: """
            Learning-rate schedule from --lr: constant, step:EPOCHS:GAMMA, multistep:E1,E2,...:GAMMA, exponential:GAMMA, cosine, \
            cosine-restarts:CYCLE[:MULT], cyclic:END:CYCLE, piecewise:ITER=RATE,..., and warmup:ITERS+SCHEDULE in front of any.
            """, transform: SchedulerSpecification.init(parsing:))
    var scheduler = SchedulerSpecification.constant
    @Option(parsing: .unconditional, help: "Seed of every random stream (initialisation, split, shuffling, dropout, built-in data).")
    var seed: UInt64 = 0
    @Option(help: "Directory for checkpoints (rank 0 writes them).")
    var checkpointDir: String?
    @Option(parsing: .unconditional, help: "Save a checkpoint every N iterations (default: once per epoch when --checkpoint-dir is given).")
    var checkpointEvery: Int?
    @Option(parsing: .unconditional, help: "Number of checkpoints to keep (default 2).")
    var keep: Int?
    @Option(
        help: "Resume from 'auto' (newest valid checkpoint in --checkpoint-dir) or a checkpoint PATH.", transform: ResumeSpecification.init(parsing:))
    var resume: ResumeSpecification?
    @Option(help: "Write a JSON-lines log of the run to PATH (rank 0).")
    var log: String?
    @Flag(inversion: .prefixedNo, help: "Show a progress bar on standard error (rank 0).")
    var progress = true
    @Option(parsing: .unconditional, help: "Simulate N ranks in this one process (one thread each), for debugging distributed logic.")
    var simulateRanks: Int?
    @Flag(help: "Sum gradients in a fixed rank order: mpirun -n N and --simulate-ranks N give identical bits.")
    var deterministic = false
    @Option(parsing: .unconditional, help: "Compare a digest of the parameters across ranks every N iterations (on with --simulate-ranks).")
    var checkConsistency: Int?
    @Option(parsing: .unconditional, help: "BLAS threads per rank (default: 1 when ranks share the cores, else all cores).")
    var threads: Int?
    @Flag(inversion: .prefixedNo, help: "Standardise CSV features with the training split's statistics.")
    var normalize = true
    @Flag(
        inversion: .prefixedNo,
        help: "Overlap the gradient all-reduce with the backward pass (bucketed, non-blocking; helps when cores are idle).")
    var overlap = false
    @Option(
        parsing: .unconditional, help: "Under mpirun, end the job when a collective takes longer than SECONDS (a stuck rank); default 60, 0 for none."
    )
    var collectiveTimeout: Double?
    @Option(parsing: .unconditional, help: "Generate N samples for the built-in data set.")
    var builtinSamples = 3000
    @Option(parsing: .unconditional, help: "Also evaluate on the test split every N iterations (default: at each epoch's end).")
    var evalEvery: Int?
    @Option(help: "Keep the --keep best checkpoints by a test metric: loss or one the run computes, e.g. accuracy, f1, mse (needs --checkpoint-dir).")
    var saveBest: String?
    @Option(
        help: """
            Test metrics besides the loss, comma-separated, as Ignite names them (macro averages): classification accuracy, \
            precision, recall, f1, topK_accuracy (e.g. top5_accuracy), cohen_kappa, matthews_corrcoef, roc_auc and \
            average_precision (two classes); regression mse, mae, r2, rmse, pearson; language model perplexity, bits_per_byte.
            """)
    var metrics: String?
    @Option(parsing: .unconditional, help: "Stop when the --save-best metric (default: test loss) has not improved for N evaluations.")
    var earlyStopping: Int?
    @Option(parsing: .unconditional, help: "Clip the global L2 norm of the (averaged) gradients to X.")
    var clipGradNorm: Double?
    @Option(
        parsing: .unconditional,
        help:
            "Keep an exponential moving average of the parameters with this decay (e.g. 0.999; Ignite's EMAHandler with momentum 1 - DECAY): test metrics use it, checkpoints save it."
    )
    var ema: Double?
    @Option(parsing: .unconditional, help: "End training after SECONDS (the summary and checkpoints are written as usual).")
    var timeLimit: Double?
    @Option(help: "Write TensorBoard event files to DIR on rank 0 (loss, learning rate, test metrics, samples/s).")
    var tensorboard: String?
    @Option(
        help:
            "Record 10 steps (after 5) of every rank as a Chrome trace in FILE (Perfetto, chrome://tracing): products, kernels, all-reduce, batches.")
    var trace: String?
    @Option(
        parsing: .unconditional,
        help: "Instead of training, search N iterations for a learning rate (rising from --lr to 10) and print the rates, losses and a suggestion.")
    var lrFind: Int?
    @Option(parsing: .unconditional, help: "Language models (--data text:PATH): tokens per training window (a GPT's context).")
    var context: Int = 128
    @Option(parsing: .unconditional, help: "Recurrent language models: time steps per truncated-BPTT chunk; must divide --context.")
    var tbptt: Int = 32
    @Option(help: "Read options from a YAML or JSON file (keys are the option names: epochs: 20); flags given here override it.")
    var config: String?
    @Flag(help: "Print the effective configuration as YAML and exit.")
    var printConfig = false
    @Option(parsing: .unconditional, help: .hidden)
    var stopAfter: Int?
    @Option(help: .hidden, transform: InjectedFault.init(parsing:))
    var injectFault: InjectedFault?

    /// The flags as a configuration, with every value checked: each option's text goes through the configuration's
    /// one list of options (`TrainingConfiguration.CodingKeys`), as a configuration file's and a checkpoint's do.
    func makeConfiguration() throws -> TrainingConfiguration {
        var configuration = try TrainingConfiguration(options: optionTexts)
        configuration.data = configuration.data.resolved
        configuration.testData = configuration.testData?.resolved
        if checkConsistency == nil, simulateRanks != nil { configuration.consistencyCheckEvery = 10 }
        return configuration
    }

    /// The options given (or defaulted) that the configuration holds, as texts by option name.
    var optionTexts: [String: String] {
        var texts: [String: String] = [:]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, let key = Self.optionName(label), TrainingConfiguration.CodingKeys(rawValue: key) != nil,
                let value = Self.parsedValue(of: child.value)
            else { continue }
            texts[key] = value
        }
        return texts
    }

    func validate() throws {
        func positive(_ value: Int, _ name: String) throws {
            guard value > 0 else { throw ValidationError("\(name) must be a positive integer, got \(value)") }
        }
        try positive(epochs, "--epochs")
        try positive(batchSize, "--batch-size")
        if let keep { try positive(keep, "--keep") }
        if checkpointDir == nil {
            if checkpointEvery != nil { throw ValidationError("--checkpoint-every needs --checkpoint-dir") }
            if keep != nil { throw ValidationError("--keep needs --checkpoint-dir") }
        }
        if let checkpointEvery { try positive(checkpointEvery, "--checkpoint-every") }
        if let simulateRanks { try positive(simulateRanks, "--simulate-ranks") }
        if let checkConsistency { try positive(checkConsistency, "--check-consistency") }
        if let threads { try positive(threads, "--threads") }
        if let microBatches { try positive(microBatches, "--micro-batches") }
        try positive(builtinSamples, "--builtin-samples")
        if let collectiveTimeout, !(collectiveTimeout >= 0 && collectiveTimeout.isFinite) {
            throw ValidationError("--collective-timeout must be a number of seconds (0: no deadline), got \(collectiveTimeout)")
        }
        if let stopAfter { try positive(stopAfter, "--stop-after") }
        guard testFraction > 0 && testFraction < 1 else {
            throw ValidationError("--test-fraction must be in (0, 1), got \(testFraction)")
        }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be a positive number, got \(lr)") }
        guard momentum >= 0 && momentum < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 && weightDecay.isFinite else {
            throw ValidationError("--weight-decay must be non-negative, got \(weightDecay)")
        }
        if resume == .auto && checkpointDir == nil {
            throw ValidationError("--resume auto needs --checkpoint-dir")
        }
        if simulateRanks != nil && ClusterEnvironment.isLaunchedByMPI {
            throw ValidationError("--simulate-ranks cannot be combined with mpirun")
        }
        var inputs: [(option: String, path: String)] = []
        for (option, value) in [("--data", data.description), ("--test-data", testData?.description)] {
            if let value, let colon = value.firstIndex(of: ":") { inputs.append((option, String(value[value.index(after: colon)...]))) }
        }
        if case .path(let path)? = resume { inputs.append(("--resume", path)) }
        for (option, output) in [("--log", log), ("--trace", trace)] {
            guard let output else { continue }
            do { try OutputProtection.refuse(output: output, option: option, overwriting: inputs) } catch {
                throw ValidationError("\(error)")
            }
        }
        do { try makeConfiguration().validate(ranksHere: simulateRanks ?? 1) } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        if printConfig {
            print(ConfigurationFile.printed(try makeConfiguration(), simulatedRanks: simulateRanks))
            return
        }
        let summary = try TrainingLauncher.train(try makeConfiguration(), simulatedRanks: simulateRanks)
        if let summary { print(summary.jsonLine) }
    }
}
