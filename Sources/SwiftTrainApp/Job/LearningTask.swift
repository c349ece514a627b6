import Cluster
import EngineCore
import NeuralNet
import Training

/// What a run learns: classes (softmax cross-entropy, accuracy), values (mean squared error, MSE/MAE/R²) or the next
/// byte of a text (a language model: token cross-entropy, perplexity, bits per byte).
public enum LearningTask: String, Sendable, Equatable, CaseIterable {
    case classification, regression
    case languageModel = "language-model"

    /// The task labels imply, and why: text labels, or integers with few distinct values, are classes;
    /// non-integer numbers, or numbers with many distinct values, are a regression's targets.
    public static func detect(from data: Dataset) -> (task: LearningTask, reason: String) {
        guard let numbers = data.numericLabels else { return (.classification, "the labels are text") }
        let distinct = Set(numbers)
        if let fraction = distinct.first(where: { $0 != $0.rounded() }) {
            return (.regression, "the labels are numbers that are not all integers (\(fraction))")
        }
        if distinct.count > maximumClasses {
            return (.regression, "the labels are \(distinct.count) distinct numbers (more than \(maximumClasses))")
        }
        return (.classification, "the labels are \(distinct.count) distinct integers")
    }

    /// Integer labels with more distinct values than this are taken for a regression's targets.
    public static let maximumClasses = 32
}

/// `--task`: a fixed task, or detected from the labels.
public enum TaskSpecification: Sendable, Equatable, OptionText {
    case auto
    case fixed(LearningTask)

    /// Parses `auto`, `classification` or `regression`.
    public init(parsing text: String) throws {
        if text == "auto" {
            self = .auto
            return
        }
        guard let task = LearningTask(rawValue: text) else {
            throw ConfigurationError.invalid(option: "--task", value: text, expected: "classification, regression, language-model or auto")
        }
        self = .fixed(task)
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let task): task.rawValue
        }
    }
}

/// The parts of a job that depend on its task: the loss, the model's outputs, how batches reach the model,
/// which metrics the evaluator computes and under which summary names.
struct TaskPlan {
    let task: LearningTask
    /// Values per sample the model outputs.
    let outputs: Int
    /// A regression's targets are standardised with the training split's mean and deviation.
    let targetMean: Float
    let targetScale: Float
    /// The test metrics computed beside the loss (`--metrics`, or the task's defaults).
    let metricNames: [String]

    init(task: LearningTask, train: Dataset, test: Dataset, metrics: [String]? = nil) {
        self.task = task
        metricNames = metrics ?? TestMetricCatalog.defaults(for: task)
        switch task {
        case .classification:
            outputs = Swift.max(train.classCount, test.classCount)
            targetMean = 0
            targetScale = 1
        case .languageModel:
            outputs = TextCorpus.vocabulary
            targetMean = 0
            targetScale = 1
        case .regression:
            outputs = 1
            let values = (train.targetValues ?? []).map(Double.init)
            let mean = values.reduce(0, +) / Double(Swift.max(values.count, 1))
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(Swift.max(values.count, 1))
            targetMean = Float(mean)
            targetScale = variance > 0 ? Float(variance.squareRoot()) : 1
        }
    }

    var loss: any LossFunction {
        switch task {
        case .classification: SoftmaxCrossEntropy()
        case .regression: MeanSquaredError()
        case .languageModel: SequenceCrossEntropy(classes: TextCorpus.vocabulary)
        }
    }

    /// Flattens images for a multilayer perceptron and standardises a regression's targets.
    func batchPreparation(for model: any Model) -> (SupervisedBatch) throws -> (inputs: Tensor, targets: Tensor) {
        if task == .languageModel { return { ($0.inputs, $0.targets) } }
        let reshape = ModelFactory.batchPreparation(for: model)
        guard task == .regression else { return reshape }
        let mean = targetMean
        let scale = targetScale
        return { batch in
            let (inputs, targets) = try reshape(batch)
            return (inputs, targets.map { ($0 - mean) / scale })
        }
    }

    /// The evaluator's output in the data's own units (a regression's predictions and targets de-standardised).
    var evaluationOutput: (SupervisedStep) -> SupervisedOutput {
        guard task == .regression else { return \.output }
        let mean = targetMean
        let scale = targetScale
        return { step in
            SupervisedOutput(
                loss: step.loss, predictions: step.predictions.map { $0 * scale + mean },
                targets: step.targets.map { $0 * scale + mean })
        }
    }

    /// Attaches the task's test metrics to a data-parallel evaluation, which combines them over the world.
    func attachMetrics(to evaluation: DataParallelEvaluation<SupervisedOutput>) throws {
        // The loss first (the regression's is its MSE), then the chosen metrics in the order given.
        try TestMetricCatalog.attachLoss(for: task, to: evaluation)
        for name in metricNames where !(task == .regression && name == "mse") {
            guard let entry = TestMetricCatalog.entry(named: name), entry.task == task else {
                throw ConfigurationError.invalid(
                    option: "--metrics", value: name, expected: TestMetricCatalog.accepted(for: task).joined(separator: ", "))
            }
            try entry.attach(evaluation, "test_" + name, outputs)
        }
    }

    /// A binary classifier's batch as ranked scores: the logit of class 1 over class 0 (monotone in its probability)
    /// and the 0/1 target, for ROC AUC and average precision.
    static func binaryScores(_ output: SupervisedOutput) -> MultilabelBatch {
        let batch = ClassificationBatch(predictions: output.predictions, targets: output.targets)
        let rows = batch.valid
        let scores = (0..<rows).map { batch.scores[$0 * batch.classes + 1] - batch.scores[$0 * batch.classes] }
        return MultilabelBatch(scores: scores, targets: Array(batch.labels[0..<rows]), count: rows, logits: true)
    }

    /// The metrics of the last evaluation under their summary names (`test_loss` is the MSE for a regression).
    func results(of evaluator: Engine<SupervisedBatch, SupervisedOutput>) -> [String: Double] {
        var metrics = evaluator.state.metrics
        if task == .regression { metrics["test_loss"] = metrics["test_mse"] }
        return metrics
    }
}
