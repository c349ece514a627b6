import Training

/// `--metrics`: the test metrics a run computes beside its loss, under Ignite's names in lower case (`test_NAME` in
/// the summary, the log and TensorBoard). Precision, recall and F1 are macro averages over the classes, as Ignite's
/// `average="macro"`. One table owns each name: its task, how it ranks, and how it is attached.
public enum TestMetricCatalog {
    /// One metric of the catalog.
    struct Entry {
        /// Its `--metrics` name.
        let name: String
        /// The task whose outputs it reads.
        let task: LearningTask
        /// Whether lower values are better (a loss or an error).
        let isLoss: Bool
        /// Whether its value needs every score, not sums (it cannot be combined shard by shard).
        let gathers: Bool
        /// Attaches it under `key` to an evaluation of a model with `classes` outputs.
        let attach: (_ evaluation: DataParallelEvaluation<SupervisedOutput>, _ key: String, _ classes: Int) throws -> Void
    }

    private static func classified(_ output: SupervisedOutput) -> ClassificationBatch {
        ClassificationBatch(predictions: output.predictions, targets: output.targets)
    }
    private static func regression(_ output: SupervisedOutput) -> RegressionBatch {
        RegressionBatch(predictions: output.predictions, targets: output.targets)
    }
    private static func tokens(_ output: SupervisedOutput) -> TokenBatch { TokenBatch(logits: output.predictions, targets: output.targets) }

    private static func entry<M: Metric>(
        _ name: String, _ task: LearningTask, isLoss: Bool = false, gathers: Bool = false, _ make: @escaping (Int) throws -> M,
        _ transform: @escaping (SupervisedOutput) -> M.Input
    ) -> Entry {
        Entry(name: name, task: task, isLoss: isLoss, gathers: gathers) { evaluation, key, classes in
            try evaluation.attach(try make(classes), name: key, outputTransform: transform)
        }
    }

    /// Every named metric, in the order `--help` and errors list them (`topK_accuracy` is built for its K).
    static var entries: [Entry] {
        [
            entry("accuracy", .classification, { _ in Accuracy() }, classified),
            entry("precision", .classification, { try PrecisionRecall(.precision, classes: $0, average: .macro) }, classified),
            entry("recall", .classification, { try PrecisionRecall(.recall, classes: $0, average: .macro) }, classified),
            entry("f1", .classification, { try PrecisionRecall(.f1, classes: $0, average: .macro) }, classified),
            entry("cohen_kappa", .classification, { try ConfusionMatrixScore(.cohenKappa, classes: $0) }, classified),
            entry("matthews_corrcoef", .classification, { try ConfusionMatrixScore(.matthewsCorrelation, classes: $0) }, classified),
            entry("roc_auc", .classification, gathers: true, { _ in RankingScore(.rocAUC) }, TaskPlan.binaryScores),
            entry("average_precision", .classification, gathers: true, { _ in RankingScore(.averagePrecision) }, TaskPlan.binaryScores),
            entry("mse", .regression, isLoss: true, { _ in MeanSquaredErrorMetric() }, regression),
            entry("mae", .regression, isLoss: true, { _ in MeanAbsoluteErrorMetric() }, regression),
            entry("r2", .regression, { _ in R2Score() }, regression),
            entry("rmse", .regression, isLoss: true, { _ in RootMeanSquaredError() }, regression),
            entry("pearson", .regression, { _ in PearsonCorrelation() }, regression),
            entry(
                "perplexity", .languageModel, isLoss: true, { _ in try TokenLoss(vocabulary: TextCorpus.vocabulary, measure: .perplexity) }, tokens),
            entry(
                "bits_per_byte", .languageModel, isLoss: true, { _ in try TokenLoss(vocabulary: TextCorpus.vocabulary, measure: .bitsPerToken) },
                tokens)
        ]
    }

    /// The task's loss, attached first under `test_loss` (a regression's is its MSE, `test_mse`).
    static func attachLoss(for task: LearningTask, to evaluation: DataParallelEvaluation<SupervisedOutput>) throws {
        switch task {
        case .classification: try evaluation.attach(Loss(), name: "test_loss") { (Double($0.loss), $0.count) }
        case .languageModel: try evaluation.attach(try TokenLoss(vocabulary: TextCorpus.vocabulary), name: "test_loss", outputTransform: tokens)
        case .regression: try evaluation.attach(MeanSquaredErrorMetric(), name: "test_mse", outputTransform: regression)
        }
    }

    /// The entry of `name`, `topK_accuracy` built for its K; nil for a name the catalog does not know.
    static func entry(named name: String) -> Entry? {
        if let known = entries.first(where: { $0.name == name }) { return known }
        guard let k = topK(name), k >= 1 else { return nil }
        return entry(name, .classification, { _ in try TopKAccuracy(k: k) }, classified)
    }

    /// The names each task accepts; `topK_accuracy` stands for any K from 1 (`top5_accuracy`).
    public static func accepted(for task: LearningTask) -> [String] {
        let names = entries.filter { $0.task == task }.map(\.name)
        // topK_accuracy listed after accuracy and the macro averages, as Ignite's classification metrics are.
        return task == .classification ? Array(names.prefix(4)) + ["topK_accuracy"] + names.dropFirst(4) : names
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
    public static func isLoss(_ name: String) -> Bool { name == "loss" || entry(named: name)?.isLoss == true }

    /// Whether `name` is accepted for `task`.
    public static func accepts(_ name: String, for task: LearningTask) -> Bool { entry(named: name)?.task == task }

    /// Whether `name` is accepted for some task (checked before the data says which task a run is).
    public static func isKnown(_ name: String) -> Bool { entry(named: name) != nil }

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
            guard let entry = entry(named: name), entry.task == task else {
                throw ConfigurationError.invalid(
                    option: "--metrics", value: name,
                    expected: "a metric of this \(task.rawValue) run: \(accepted(for: task).joined(separator: ", "))")
            }
            if entry.gathers {
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
