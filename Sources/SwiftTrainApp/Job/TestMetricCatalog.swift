import Training

/// `--metrics`: the test metrics a run computes beside its loss, under Ignite's names in lower case (`test_NAME` in
/// the summary, the log and TensorBoard). Precision, recall and F1 are macro averages over the classes, as Ignite's
/// `average="macro"`.
public enum TestMetricCatalog {
    /// The names each task accepts; `topK_accuracy` stands for any K from 1 (`top5_accuracy`).
    public static func accepted(for task: LearningTask) -> [String] {
        switch task {
        case .classification:
            [
                "accuracy", "precision", "recall", "f1", "topK_accuracy", "cohen_kappa", "matthews_corrcoef", "roc_auc",
                "average_precision"
            ]
        case .regression: ["mse", "mae", "r2", "rmse", "pearson"]
        case .languageModel: ["perplexity", "bits_per_byte"]
        }
    }

    /// What a run computes when `--metrics` is not given.
    public static func defaults(for task: LearningTask) -> [String] {
        switch task {
        case .classification: ["accuracy"]
        case .regression: ["mse", "mae", "r2"]
        case .languageModel: ["perplexity", "bits_per_byte"]
        }
    }

    /// Whether lower values are better (losses and errors): `--save-best` and `--early-stopping` negate them.
    public static func isLoss(_ name: String) -> Bool {
        ["loss", "mse", "mae", "rmse", "perplexity", "bits_per_byte"].contains(name)
    }

    /// Whether `name` is accepted for `task`.
    public static func accepts(_ name: String, for task: LearningTask) -> Bool {
        if task == .classification, let k = topK(name) { return k >= 1 }
        return accepted(for: task).contains(name)
    }

    /// Whether `name` is accepted for some task (checked before the data says which task a run is).
    public static func isKnown(_ name: String) -> Bool {
        LearningTask.allCases.contains { accepts(name, for: $0) }
    }

    /// The metrics whose value needs every score, not sums: they cannot be combined shard by shard.
    static let gathered: Set<String> = ["roc_auc", "average_precision"]

    /// K of `topK_accuracy`, or nil for another name.
    static func topK(_ name: String) -> Int? {
        guard name.hasPrefix("top"), name.hasSuffix("_accuracy") else { return nil }
        return Int(name.dropFirst(3).dropLast("_accuracy".count))
    }

    /// Checks `names` against the task the data gave: every name the task's, the areas under curves only for two
    /// classes and without virtual shards.
    /// - Throws: `ConfigurationError.invalid` naming the first metric this run cannot compute.
    static func validate(_ names: [String], task: LearningTask, classes: Int, virtualShards: Bool) throws {
        for name in names {
            guard accepts(name, for: task) else {
                throw ConfigurationError.invalid(
                    option: "--metrics", value: name,
                    expected: "a metric of this \(task.rawValue) run: \(accepted(for: task).joined(separator: ", "))")
            }
            if gathered.contains(name) {
                guard classes == 2 else {
                    throw ConfigurationError.invalid(
                        option: "--metrics", value: name, expected: "a binary classification (this data has \(classes) classes)")
                }
                guard !virtualShards else {
                    throw ConfigurationError.invalid(
                        option: "--metrics", value: name,
                        expected: "a run without --virtual-shards (it ranks every test score, which shard-wise sums cannot)")
                }
            }
            if let k = topK(name), k > classes {
                throw ConfigurationError.invalid(option: "--metrics", value: name, expected: "K at most the \(classes) classes")
            }
        }
    }
}
