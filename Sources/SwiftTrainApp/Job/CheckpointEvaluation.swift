import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

/// `swift-train evaluate`: rebuilds a checkpoint's model and measures it on its run's test split, or on all
/// of other data normalised with the checkpoint's statistics.
enum CheckpointEvaluation {
    /// What evaluation needs, built identically on every rank.
    struct Setup {
        /// The test data's evaluation over the world (shard by shard for a run trained on virtual shards).
        let evaluation: DataParallelEvaluation<SupervisedOutput>
        let plan: TaskPlan
        let summary: TrainingSummary
    }

    static func run(
        path: String, data override: DataSpecification?, batchSize: Int, labelColumn: LabelColumnSpecification?,
        wholeData: Bool, communicator: any Communicator
    ) throws -> TrainingSummary {
        let setup: Setup? = try TrainingLauncher.agreeing(communicator) {
            let tree = try CheckpointFile.readOnRoot(URL(fileURLWithPath: path), communicator: communicator)
            return try prepare(
                tree, path: path, override: override, batchSize: batchSize, labelColumn: labelColumn,
                wholeData: wholeData, communicator: communicator)
        }
        guard let setup else { throw AgreedFailure.silent }
        try setup.evaluation.run()
        var summary = setup.summary
        summary.metrics = setup.plan.results(of: setup.evaluation.evaluator)
        return summary
    }

    private static func prepare(
        _ tree: StateDict, path: String, override: DataSpecification?, batchSize: Int,
        labelColumn: LabelColumnSpecification?, wholeData: Bool,
        communicator: any Communicator
    ) throws -> Setup {
        guard case .dictionary(let jobState)? = tree["job"] else { throw CheckpointError.missingObject(name: "job") }
        let record = JobRecord(configuration: TrainingConfiguration(), worldSize: 1)
        try record.loadStateDict(jobState)
        var configuration = record.configuration
        let prepared = try PreparedData(configuration)
        if let saved = record.dataDigest, let current = prepared.digest, saved != current {
            let changed = "\(configuration.data.description) changed since the checkpoint was written (its SHA-256 differs)"
            guard override != nil else {
                throw ConfigurationError.invalid(
                    option: "--split", value: wholeData ? "all" : "test",
                    expected: "the run's own data, but \(changed): its split would hold other rows; "
                        + "evaluate other data with --data")
            }
            if communicator.rank == 0 { FileHandle.standardError.write(Data("swift-train: note: \(changed)\n".utf8)) }
        }
        var test = prepared.test
        if wholeData && override == nil {
            test = try prepared.train.appending(prepared.test)
        }
        if let labelColumn { configuration.labelColumn = labelColumn }
        if let override {
            test = try PreparedData.load(
                override, configuration: configuration, seedOffset: 0, layout: record.layout,
                labelColumn: labelColumn)
            // The shape first: data of another kind is named as such, not by its labels.
            guard test.featureCount == prepared.train.featureCount else {
                throw ConfigurationError.invalid(
                    option: "--data", value: override.description,
                    expected: "samples of \(prepared.train.featureCount) features like the checkpoint's data, "
                        + "found \(test.featureCount)")
            }
            if prepared.task == .regression {
                test = try test.asRegression()
            } else if prepared.task == .classification {
                // Labels are the model's classes, matched by text or number, never renumbered by this file's own values.
                let classes = record.classNames.isEmpty ? prepared.train.classNames : record.classNames
                test = try test.relabeled(toClasses: classes, path: override.description)
            }
            if case .dictionary(let normalization)? = tree["normalization"] {
                let state = NormalizationState(FeatureStatistics(mean: [], standardDeviation: []))
                try state.loadStateDict(normalization)
                guard state.statistics.mean.count == test.featureCount else {
                    throw ConfigurationError.invalid(
                        option: "--data", value: override.description,
                        expected: "\(state.statistics.mean.count) features like the checkpoint's data")
                }
                state.statistics.apply(to: &test)
            }
        }
        let plan = TaskPlan(task: prepared.task, train: prepared.train, test: prepared.test, metrics: configuration.metrics)
        let model = try ModelFactory.makeModel(
            configuration.model, sampleShape: prepared.train.sampleShape,
            classes: plan.outputs, seed: configuration.seed)
        try Checkpoint.loadObjects(toLoad: ["model": ModelState(model)], checkpoint: tree)
        guard test.featureCount == model.inputShape.reduce(1, *) || model is any RecurrentStateModel else {
            throw ConfigurationError.invalid(
                option: "--data", value: override?.description ?? "test split",
                expected: "\(model.inputShape.reduce(1, *)) features per sample")
        }
        // A recurrent language model reads every window from the start (its carried state reset per batch).
        let evaluator =
            (model as? any RecurrentStateModel) != nil
            ? makeLanguageModelEvaluator(model: model)
            : makeSupervisedEvaluator(
                model: model, loss: plan.loss, prepareBatch: plan.batchPreparation(for: model),
                outputTransform: plan.evaluationOutput)
        // A run trained on virtual shards is evaluated shard by shard, so its metrics are the same on every world
        // size that divides them (another world size says so and evaluates as usual).
        var mode = DataParallelMode.replicated(overlap: false)
        if let count = configuration.virtualShards {
            if communicator.size <= count, count % communicator.size == 0 {
                mode = .virtualShards(count)
            } else if communicator.rank == 0 {
                FileHandle.standardError.write(
                    Data(
                        ("swift-train: \(communicator.size) ranks do not divide the run's \(count) virtual shards: "
                            + "the metrics may differ in the last bits from another world size's\n").utf8))
            }
        }
        let evaluation = try DataParallel(communicator: communicator, mode: mode).makeEvaluation(
            of: evaluator, test: test, batchSize: batchSize)
        try plan.attachMetrics(to: evaluation)
        var iteration = 0
        var epoch = 0
        if case .dictionary(let trainer)? = tree["trainer"] {
            iteration = (try? trainer.int("iteration")) ?? 0
            if let length = try? trainer.optionalInt("epoch_length"), length > 0 { epoch = iteration / length }
        }
        let summary = TrainingSummary(
            epoch: epoch, iteration: iteration, worldSize: communicator.size, task: plan.task,
            metrics: [:], trainSamplesPerSecond: 0,
            parametersSHA256: TrainingJob.parametersSHA256(model),
            parameters: model.parameterCount, checkpoint: path)
        return Setup(evaluation: evaluation, plan: plan, summary: summary)
    }
}
