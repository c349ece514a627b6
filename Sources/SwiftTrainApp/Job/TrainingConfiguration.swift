import Autodiff
import Foundation
import Training

/// Everything a training job needs to know, as the command line gives it.
///
/// A pure value: the CLI parses flags into it, tests build it directly, and every rank of a cluster
/// holds the same one.
public struct TrainingConfiguration: Sendable, Equatable, Codable {
    /// Where the data comes from.
    public var data: DataSpecification = .builtin
    /// Which column of CSV data holds the label.
    public var labelColumn: LabelColumnSpecification = .last
    /// The fraction of the data held out for testing (seeded split), unless `testData` is given.
    public var testFraction: Double = 0.2
    /// A separate test set.
    public var testData: DataSpecification?
    /// Classification or regression; `auto` decides from the labels (and says so on standard error).
    public var task: TaskSpecification = .auto
    /// The network.
    public var model: ModelSpecification = .multilayerPerceptron(hidden: [128, 128])
    /// Number of epochs to train.
    public var epochs = 10
    /// Samples per batch on each rank (the global batch is this times the world size); with virtual shards, samples
    /// per micro-shard (the global batch is this times the shard count, whatever the world size).
    public var batchSize = 32
    /// Split every global batch into this many micro-shards (a power of two) summed in a fixed tree: the same bits
    /// on every world size that divides it. nil: ordinary data parallelism.
    public var virtualShards: Int?
    /// Run each rank's batch as this many micro-batches at once on its compute threads (model replicas, gradients
    /// summed in order); nil: `MicroBatching.automatic` (16 rows and 256 loss terms each). Part of the numbers: a
    /// function of the configuration, never of the thread count.
    public var microBatches: Int?
    /// The learning rate (the scheduler's base rate).
    public var learningRate = 0.05
    /// The optimizer's algorithm.
    public var optimizer: OptimizerKind = .sgd
    /// SGD momentum.
    public var momentum = 0.9
    /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
    public var weightDecay = 0.0
    /// The learning-rate schedule.
    public var scheduler: SchedulerSpecification = .constant
    /// The seed of every random stream (initialisation, split, shuffling, dropout, built-in data).
    public var seed: UInt64 = 0
    /// Where checkpoints go; nil disables checkpoints.
    public var checkpointDirectory: String?
    /// Save every this many iterations; nil means once per epoch.
    public var checkpointEvery: Int?
    /// How many checkpoints to keep.
    public var keep = 2
    /// Whether and from where to resume.
    public var resume: ResumeSpecification = .none
    /// A JSON-lines log of the run, written by rank 0.
    public var logPath: String?
    /// Whether rank 0 shows a progress bar on standard error.
    public var progress = true
    /// Whether gradient sums are formed in a fixed rank order (bit-identical across MPI and simulated ranks).
    public var deterministic = false
    /// Compare a digest of the parameters across ranks every this many iterations (nil: never).
    public var consistencyCheckEvery: Int?
    /// BLAS threads per rank; nil picks one per rank when ranks share the cores, else all cores.
    public var threads: Int?
    /// Standardise CSV features with the training split's statistics.
    public var normalize = true
    /// Samples generated for the built-in data set.
    public var builtinSamples = 3000
    /// Overlap the gradient all-reduce with the backward pass (bucketed, non-blocking). Off by default: measured
    /// on 2 ranks sharing 2 cores it was 10% slower than one blocking all-reduce per step (B3: 47.9k vs 52.9k
    /// samples/s), since Open MPI progresses non-blocking collectives only inside MPI calls and no core is idle.
    public var overlapCommunication = false
    /// Stop after this many iterations of the run (for tests that simulate a crash); nil runs to the end.
    package var stopAfterIterations: Int?
    /// A failure injected on purpose (tests of failure handling).
    package var injectedFault: InjectedFault?
    /// Seconds within which every collective must complete under mpirun, else the job is aborted naming the
    /// rank (nil: no deadline, MPI's blocking calls).
    public var collectiveTimeout: Double?
    /// Evaluate on the test split every this many iterations too (nil: at each epoch's end only).
    public var evaluateEvery: Int?
    /// Keep the `keep` best checkpoints by this metric (accuracy, loss, mse, mae or r2), as `best_checkpoint_*`.
    public var saveBest: String?
    /// Stop when the `--save-best` metric (or the test loss) has not improved for this many evaluations.
    public var earlyStoppingPatience: Int?
    /// Clip the global gradient norm to this value (after averaging over ranks).
    public var clipGradientNorm: Double?
    /// The test metrics computed beside the loss (`--metrics`); nil: the task's defaults.
    public var metrics: [String]?
    /// The decay of an exponential moving average of the parameters that the test metrics use; nil: none.
    public var emaDecay: Double?
    /// Write TensorBoard event files to this directory (rank 0).
    public var tensorBoardDirectory: String?
    /// Record a few steps of every rank as a Chrome trace in this file (rank 0 writes it).
    public var tracePath: String?
    /// Instead of training, search this many iterations for a learning rate (`LearningRateFinder`, from the
    /// configured rate up to 10) and report it.
    public var learningRateSearch: Int?
    /// End the run after this many seconds of training (Ignite's TimeLimit), saving as usual.
    public var timeLimit: Double?
    /// Tokens per training window of a language model (`--data text:PATH`): a GPT's context, a recurrent model's
    /// sequence length.
    public var context = 128
    /// Steps per truncated-BPTT chunk of a recurrent language model (`--tbptt`); must divide `context`.
    public var tbptt = 32

    /// Every option by its command-line name: the single list of options. Flags, configuration files, checkpoints,
    /// the ranks' agreement and `--print-config` all code a configuration through these keys (`OptionTextCoding`).
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case data, labelColumn = "label-column", testFraction = "test-fraction", testData = "test-data", task, model, epochs
        case batchSize = "batch-size", virtualShards = "virtual-shards", microBatches = "micro-batches", learningRate = "lr"
        case optimizer, momentum
        case weightDecay = "weight-decay", scheduler, seed, checkpointDirectory = "checkpoint-dir"
        case checkpointEvery = "checkpoint-every", keep, resume, logPath = "log", progress, deterministic
        case consistencyCheckEvery = "check-consistency", threads, normalize, builtinSamples = "builtin-samples"
        case overlapCommunication = "overlap", stopAfterIterations = "stop-after", injectedFault = "inject-fault"
        case collectiveTimeout = "collective-timeout", evaluateEvery = "eval-every", saveBest = "save-best"
        case earlyStoppingPatience = "early-stopping", clipGradientNorm = "clip-grad-norm", metrics, emaDecay = "ema"
        case tensorBoardDirectory = "tensorboard", tracePath = "trace", learningRateSearch = "lr-find"
        case timeLimit = "time-limit", context, tbptt
    }

    /// The options set, as (name, text) in the list's order; options left at nil are absent.
    public var options: [(key: String, text: String)] {
        // Every value codes as text (the coder handles nothing else), so encoding cannot fail.
        try! OptionTextCoding.encode(self)
    }

    /// A configuration from option texts by name (flags, a configuration file, a checkpoint's record); options not
    /// given keep their defaults.
    /// - Throws: `ConfigurationError` naming the option whose text is not a value of it.
    public init(options: [String: String]) throws {
        self = try OptionTextCoding.decode(Self.self, from: options, defaults: Self())
    }

    /// The deadline of every collective under mpirun when none is given: a stalled rank ends the job in a minute.
    public static let defaultCollectiveTimeout = 60.0

    /// The defaults: built-in data, MLP 128-128, SGD 0.05 momentum 0.9, batch 32 per rank, 10 epochs.
    public init() {}
}

/// A data set on the command line: `builtin`, `csv:PATH`, `idx:DIR` or `text:PATH` (a language model's bytes).
public enum DataSpecification: Sendable, Equatable, OptionText {
    case builtin
    case csv(path: String)
    case idx(directory: String)
    case text(path: String)

    /// Parses `builtin`, `csv:PATH`, `idx:DIR` or `text:PATH`.
    public init(parsing text: String) throws {
        if text == "builtin" {
            self = .builtin
            return
        }
        if text.hasPrefix("csv:"), text.count > 4 {
            self = .csv(path: String(text.dropFirst(4)))
            return
        }
        if text.hasPrefix("idx:"), text.count > 4 {
            self = .idx(directory: String(text.dropFirst(4)))
            return
        }
        if text.hasPrefix("text:"), text.count > 5 {
            self = .text(path: String(text.dropFirst(5)))
            return
        }
        throw ConfigurationError.invalid(option: "--data", value: text, expected: "builtin, csv:PATH, idx:DIR or text:PATH")
    }

    /// Whether this is a language model's text.
    public var isText: Bool {
        if case .text = self { return true }
        return false
    }

    /// The same data with a relative path made absolute (against the current directory), so that a checkpoint
    /// names its data wherever `evaluate` or `predict` later runs.
    public var resolved: DataSpecification {
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : URL(fileURLWithPath: path).standardizedFileURL.path
        }
        switch self {
        case .builtin: return .builtin
        case .csv(let path): return .csv(path: absolute(path))
        case .idx(let directory): return .idx(directory: absolute(directory))
        case .text(let path): return .text(path: absolute(path))
        }
    }

    public var description: String {
        switch self {
        case .builtin: "builtin"
        case .csv(let path): "csv:\(path)"
        case .idx(let directory): "idx:\(directory)"
        case .text(let path): "text:\(path)"
        }
    }
}

/// Which CSV column holds the label: the last one, or one named in the header.
public enum LabelColumnSpecification: Sendable, Equatable, OptionText {
    case last
    case named(String)

    /// Parses `last` or a column name.
    public init(parsing text: String) {
        self = text == "last" ? .last : .named(text)
    }

    public var description: String {
        switch self {
        case .last: "last"
        case .named(let name): name
        }
    }
}

/// The network: `mlp:H1,H2,...` (ReLU hidden layers) or `cnn` (two convolutions, for image data).
public enum ModelSpecification: Sendable, Equatable, OptionText {
    case multilayerPerceptron(hidden: [Int])
    case convolutional
    /// A residual MLP written as differentiable Swift: WIDTH units, BLOCKS residual blocks.
    case residualMLP(width: Int, blocks: Int)
    /// A byte-level recurrent language model (embedding 64, LAYERS cells of HIDDEN units), trained with truncated BPTT.
    case recurrent(cell: RecurrentCell, hidden: Int, layers: Int)
    /// A decoder-only transformer language model: LAYERS pre-norm blocks of WIDTH features and HEADS heads.
    case gpt(layers: Int, width: Int, heads: Int)

    /// Whether this is a language model (which reads `--data text:PATH`).
    public var isLanguageModel: Bool {
        switch self {
        case .recurrent, .gpt: true
        default: false
        }
    }

    /// Parses `mlp:128,128`, `mlp:` (no hidden layer: logistic regression), `cnn`, `resmlp:W,B`, `lstm:H[,L]`,
    /// `gru:H[,L]` or `gpt:LAYERS,WIDTH,HEADS`.
    public init(parsing text: String) throws {
        if text == "cnn" {
            self = .convolutional
            return
        }
        for cell in [RecurrentCell.lstm, .gru] where text.hasPrefix(cell.rawValue + ":") {
            let parts = text.dropFirst(cell.rawValue.count + 1).split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 1 || parts.count == 2, let hidden = parts[0], hidden > 0, hidden <= 1 << 13,
                parts.count == 1 || (parts[1] ?? 0) > 0 && (parts[1] ?? 0) <= 16
            else {
                throw ConfigurationError.invalid(
                    option: "--model", value: text,
                    expected: "\(cell.rawValue):HIDDEN[,LAYERS] such as \(cell.rawValue):256 or \(cell.rawValue):256,2")
            }
            self = .recurrent(cell: cell, hidden: hidden, layers: parts.count == 2 ? parts[1]! : 1)
            return
        }
        if text.hasPrefix("gpt:") {
            let parts = text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 3, let layers = parts[0], let width = parts[1], let heads = parts[2], layers > 0, layers <= 64,
                width > 0, width <= 1 << 13, heads > 0, width % heads == 0
            else {
                throw ConfigurationError.invalid(
                    option: "--model", value: text,
                    expected: "gpt:LAYERS,WIDTH,HEADS with WIDTH divisible by HEADS, such as gpt:2,128,4")
            }
            self = .gpt(layers: layers, width: width, heads: heads)
            return
        }
        if text.hasPrefix("resmlp:") {
            let parts = text.dropFirst(7).split(separator: ",").map { Int($0) }
            guard parts.count == 2, let width = parts[0], let blocks = parts[1], width > 0, width <= 1 << 14, blocks >= 0, blocks <= 64 else {
                throw ConfigurationError.invalid(option: "--model", value: text, expected: "resmlp:WIDTH,BLOCKS such as resmlp:128,2")
            }
            self = .residualMLP(width: width, blocks: blocks)
            return
        }
        guard text.hasPrefix("mlp:") || text == "mlp" else {
            throw ConfigurationError.invalid(
                option: "--model", value: text,
                expected: "mlp:H1,H2,..., resmlp:WIDTH,BLOCKS, cnn, lstm:HIDDEN[,LAYERS], gru:HIDDEN[,LAYERS] or gpt:LAYERS,WIDTH,HEADS")
        }
        let list = text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false)
        if list.count == 1 && list[0].isEmpty || text == "mlp" {
            self = .multilayerPerceptron(hidden: [])
            return
        }
        var hidden: [Int] = []
        for item in list {
            guard let width = Int(item), width > 0, width <= 1 << 16 else {
                throw ConfigurationError.invalid(
                    option: "--model", value: text,
                    expected: "positive layer widths such as mlp:128,128")
            }
            hidden.append(width)
        }
        self = .multilayerPerceptron(hidden: hidden)
    }

    public var description: String {
        switch self {
        case .multilayerPerceptron(let hidden): "mlp:" + hidden.map(String.init).joined(separator: ",")
        case .convolutional: "cnn"
        case .residualMLP(let width, let blocks): "resmlp:\(width),\(blocks)"
        case .recurrent(let cell, let hidden, let layers): "\(cell.rawValue):\(hidden),\(layers)"
        case .gpt(let layers, let width, let heads): "gpt:\(layers),\(width),\(heads)"
        }
    }
}

/// The optimizer's algorithm.
public enum OptimizerKind: String, Sendable, Equatable, CaseIterable, Codable {
    case sgd, adam, adamw
}

/// Whether a run resumes: not at all, from the newest valid checkpoint, or from a given file.
public enum ResumeSpecification: Sendable, Equatable, OptionText {
    case none
    case auto
    case path(String)

    /// Parses `auto`, `none` (start afresh) or a path (`./none` for a file of that name).
    public init(parsing text: String) {
        self = text == "auto" ? .auto : text == "none" ? .none : .path(text)
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .auto: "auto"
        case .path(let path): path
        }
    }
}

/// A configuration value that cannot be used.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    static func gibibytes(_ bytes: Double) -> String {
        bytes >= 1_073_741_824 ? String(format: "%.1f GiB", bytes / 1_073_741_824) : String(format: "%.0f MiB", bytes / 1_048_576)
    }

    case invalid(option: String, value: String, expected: String)
    case outOfRange(option: String, value: String, range: String)
    case tooLarge(needed: Double, available: Double)

    public var description: String {
        switch self {
        case .invalid(let option, let value, let expected): "invalid \(option) '\(value)': expected \(expected)"
        case .outOfRange(let option, let value, let range): "\(option) \(value) is out of range: must be \(range)"
        case .tooLarge(let needed, let available):
            "this run needs about \(Self.gibibytes(needed)) of memory and the machine has \(Self.gibibytes(available)): "
                + "use fewer samples, a smaller model or batch, or fewer ranks per machine"
        }
    }
}
