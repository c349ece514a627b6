import EngineCore
import NeuralNet
import Training

/// The training and test splits of a run, loaded and normalised exactly as the configuration says.
///
/// Every rank loads the whole data set (the files this tool reads are small); the split and every
/// random choice are functions of the seed, so all ranks hold identical splits without communicating.
public struct PreparedData {
    /// The training split.
    public var train: Dataset
    /// The test split.
    public var test: Dataset
    /// The training split's feature statistics, applied to both splits (CSV data with normalisation on).
    public var statistics: FeatureStatistics?
    /// What the run learns, and why when it was detected from the labels (nil when `--task` chose it).
    public var task: LearningTask
    /// Why the task was chosen when `--task auto` decided it (said on standard error), nil otherwise.
    public var taskReason: String?
    /// What loading decided that a user should hear (labels merged as one number, ...).
    public var notes: [String] = []
    /// A SHA-256 of the training data's files (nil for generated data), recorded so a changed file is noticed.
    public var digest: String?

    /// Loads and splits the data of `configuration`.
    public init(_ configuration: TrainingConfiguration) throws {
        var splitRandom = CounterRandom(seed: configuration.seed, stream: CounterRandom.streamKey(purpose: "split"))
        let primary: Dataset
        var separateTest: Dataset?
        switch configuration.data {
        case .builtin:
            var random = CounterRandom(seed: configuration.seed, stream: CounterRandom.streamKey(purpose: "builtin-data"))
            primary = GlyphDataset.generate(count: configuration.builtinSamples, using: &random)
        case .csv(let path):
            primary = try CSVDataset.load(path: path, labelColumn: configuration.labelColumn.csvLabelColumn, notes: &notes)
        case .idx(let directory):
            primary = try IDXDataset.load(directory: directory, split: .train)
            if configuration.testData == nil { separateTest = try IDXDataset.load(directory: directory, split: .test) }
        case .text(let path):
            let corpus = try TextCorpus(contentsOf: path)
            let (train, validation) = try corpus.languageModelWindows(
                context: configuration.context,
                validationFraction: configuration.testFraction, seed: configuration.seed)
            primary = train
            if configuration.testData == nil { separateTest = validation }
            notes.append(
                "task: language model over the \(corpus.bytes.count) bytes of \(path) (vocabulary 256, \(train.count) training "
                    + "and \(validation.count) validation windows of \(configuration.context) tokens)")
        }
        if let testData = configuration.testData {
            separateTest = try Self.load(testData, configuration: configuration, layout: primary.layout)
        }
        digest = try DataDigest.of(configuration.data)
        if let separateTest {
            guard separateTest.featureCount == primary.featureCount, separateTest.sampleShape == primary.sampleShape else {
                throw ConfigurationError.invalid(
                    option: "--test-data", value: configuration.testData?.description ?? "t10k",
                    expected: "samples of shape \(primary.sampleShape) like the training data, found \(separateTest.sampleShape)")
            }
            train = primary
            test = separateTest
        } else {
            (train, test) = primary.split(testFraction: configuration.testFraction, using: &splitRandom)
        }
        switch configuration.task {
        case _ where configuration.data.isText:
            task = .languageModel
            taskReason = nil
        case .fixed(let task):
            self.task = task
            taskReason = nil
        case .auto:
            (task, taskReason) = LearningTask.detect(from: primary)
            // Only labels read from a file are worth announcing: the built-in glyphs and MNIST are classes.
            if case .csv = configuration.data {} else { taskReason = nil }
        }
        if task == .regression {
            train = try train.asRegression()
            test = try test.asRegression()
        } else if task == .classification, let testData = configuration.testData {
            // A separate test file numbers its own labels; the model's classes are the training data's.
            test = try test.relabeled(toClasses: primary.classNames, path: testData.description)
        }
        if configuration.normalize, case .csv = configuration.data {
            let statistics = FeatureStatistics(train)
            statistics.apply(to: &train)
            statistics.apply(to: &test)
            self.statistics = statistics
        }
    }

    /// All of a data set: the generated glyphs (from the seed plus `seedOffset`), a CSV file, or IDX's test files.
    /// With the training data's `layout`, a CSV file's columns are matched to it by name (its label column by the
    /// training label's name, unless `--label-column` names one).
    static func load(
        _ specification: DataSpecification, configuration: TrainingConfiguration, seedOffset: UInt64 = 1,
        layout: TableLayout? = nil, labelColumn: LabelColumnSpecification? = nil
    ) throws -> Dataset {
        if case .csv(let path) = specification, let layout {
            let label = labelColumn?.csvLabelColumn ?? .named(layout.labelName)
            do {
                return try CSVDataset.load(path: path, labelColumn: label).arranged(as: layout, path: path)
            } catch DatasetError.missingHeader {
                throw DatasetError.missingHeader(path: path, columns: layout.featureNames + [layout.labelName])
            }
        }
        switch specification {
        case .builtin:
            var random = CounterRandom(seed: configuration.seed &+ seedOffset, stream: CounterRandom.streamKey(purpose: "builtin-data"))
            return GlyphDataset.generate(count: configuration.builtinSamples, using: &random)
        case .csv(let path): return try CSVDataset.load(path: path, labelColumn: configuration.labelColumn.csvLabelColumn)
        case .idx(let directory): return try IDXDataset.load(directory: directory, split: .test)
        case .text(let path):
            return try TextCorpus(contentsOf: path).languageModelWindows(
                context: configuration.context, validationFraction: 0,
                seed: configuration.seed
            ).train
        }
    }
}

extension LabelColumnSpecification {
    var csvLabelColumn: LabelColumn {
        switch self {
        case .last: .last
        case .named(let name): .named(name)
        }
    }
}
