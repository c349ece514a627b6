import EngineCore
import Training

/// The run's configuration as a checkpoint object, so `evaluate` and `inspect` can rebuild its data and
/// model, and a resumed run can refuse an incompatible checkpoint.
public final class JobRecord: Stateful {
    /// The configuration of the run.
    public private(set) var configuration: TrainingConfiguration
    /// Ranks of the run that wrote the checkpoint.
    public private(set) var worldSize: Int
    /// Per-rank batch size of the run that wrote the checkpoint.
    public private(set) var batchSize: Int

    /// The classes' names in output order (a classifier), for `predict`.
    public var classNames: [String] = []
    /// The training table's named columns (a CSV file with a header), matched by name in `evaluate` and `predict`.
    public var layout: TableLayout?
    /// A SHA-256 of the training data's files, so `evaluate` and `--resume` notice a file changed since.
    public var dataDigest: String?
    /// A regression's target standardisation (mean, scale), for `predict`.
    public var targetStandardization: (mean: Double, scale: Double) = (0, 1)

    /// A record of `configuration` run on `worldSize` ranks.
    public init(configuration: TrainingConfiguration, worldSize: Int, task: LearningTask = .classification) {
        var configuration = configuration
        configuration.task = .fixed(task)
        self.configuration = configuration
        self.worldSize = worldSize
        batchSize = configuration.batchSize
    }

    /// The record's format: 2 codes the configuration as its options (`TrainingConfiguration.options`); records
    /// without it (written before) hold chosen options under their own keys.
    static let format = 2

    public func stateDict() -> StateDict {
        var dict: StateDict = [
            "format": .int(Self.format),
            // The run's configuration, every option set as its command-line name and text: what evaluate, predict,
            // inspect and a resumed run read back.
            "options": .dictionary(Dictionary(uniqueKeysWithValues: configuration.options.map { ($0.key, StateValue.string($0.text)) })),
            "world_size": .int(worldSize), "batch_size": .int(batchSize),
            "class_names": .array(classNames.map(StateValue.string)),
            "target_mean": .double(targetStandardization.mean), "target_scale": .double(targetStandardization.scale)
        ]
        dict["feature_names"] = layout.map { .array($0.featureNames.map(StateValue.string)) } ?? .null
        dict["label_name"] = layout.map { .string($0.labelName) } ?? .null
        dict["data_sha256"] = dataDigest.map(StateValue.string) ?? .null
        return dict
    }

    public func loadStateDict(_ state: StateDict) throws {
        var c = configuration
        if case .int(let format)? = state["format"] {
            guard format == Self.format, case .dictionary(let entries)? = state["options"] else {
                throw StateDictError.invalidValue(key: "job.format", reason: "record format \(format) is not one this version reads")
            }
            var texts: [String: String] = [:]
            for (key, value) in entries {
                guard case .string(let text) = value else {
                    throw StateDictError.invalidValue(key: "job.options.\(key)", reason: "the option's value is not text")
                }
                texts[key] = text
            }
            do { c = try TrainingConfiguration(options: texts) } catch {
                throw StateDictError.invalidValue(key: "job.options", reason: "\(error)")
            }
        } else {
            c = try Self.legacyConfiguration(state, over: c)
        }
        try c.validate()
        configuration = c
        if case .array(let names)? = state["class_names"] {
            classNames = names.compactMap { if case .string(let name) = $0 { name } else { nil } }
        }
        if case .double(let mean)? = state["target_mean"], case .double(let scale)? = state["target_scale"], scale > 0 {
            targetStandardization = (mean, scale)
        }
        if case .array(let names)? = state["feature_names"], case .string(let label)? = state["label_name"] {
            layout = TableLayout(
                featureNames: try names.map { value in
                    guard case .string(let name) = value else {
                        throw StateDictError.invalidValue(key: "feature_names", reason: "a feature name is not text")
                    }
                    return name
                }, labelName: label)
        }
        if case .string(let digest)? = state["data_sha256"] { dataDigest = digest }
        worldSize = try state.int("world_size")
        batchSize = try state.int("batch_size")
    }

    /// The configuration a record written before format 2 holds: its chosen options over `current`'s.
    private static func legacyConfiguration(_ state: StateDict, over current: TrainingConfiguration) throws -> TrainingConfiguration {
        var c = current
        c.data = try DataSpecification(parsing: try state.string("data"))
        c.testFraction = try state.double("test_fraction")
        c.model = try ModelSpecification(parsing: try state.string("model"))
        c.seed = try state.uint64("seed")
        c.normalize = try state.bool("normalize")
        c.builtinSamples = try state.int("builtin_samples")
        let shards = state["virtual_shards"] == nil ? nil : try state.optionalInt("virtual_shards")
        if case .string(let name)? = state["optimizer"] {
            guard let kind = OptimizerKind(rawValue: name) else {
                throw StateDictError.invalidValue(key: "optimizer", reason: "unknown optimizer '\(name)'")
            }
            c.optimizer = kind
        }
        if case .string(let task)? = state["task"] { c.task = try TaskSpecification(parsing: task) } else { c.task = .fixed(.classification) }
        c.labelColumn = LabelColumnSpecification(parsing: try state.string("label_column"))
        if case .string(let text)? = state["test_data"] { c.testData = try DataSpecification(parsing: text) } else { c.testData = nil }
        if state["context"] != nil { c.context = try state.int("context") }
        if state["tbptt"] != nil { c.tbptt = try state.int("tbptt") }
        if case .array(let names)? = state["metrics"] {
            c.metrics = try names.map { name in
                guard case .string(let text) = name, TestMetricCatalog.isKnown(text) else {
                    throw StateDictError.invalidValue(key: "job.metrics", reason: "\(name) is not a metric name")
                }
                return text
            }
        }
        // The run's shard count is its own: this run's other options (--overlap) may only conflict with virtual shards.
        if shards != nil { c.overlapCommunication = false }
        c.virtualShards = shards
        return c
    }
}
