import Cluster
import EngineCore

/// A test evaluation of a data-parallel run: each rank evaluates its part of the test split and the metrics are
/// combined over the world, every sample counted once. Replicated, each metric all-reduces its own sums; with virtual
/// shards each shard is evaluated on its own and the sums are added in the shards' tree (`ShardwiseEvaluation`), the
/// same bits on every world size. Made by `DataParallel.makeEvaluation(of:test:batchSize:)`.
///
/// ```swift
/// let evaluation = try parallel.makeEvaluation(of: evaluator, test: test, batchSize: 256)
/// try evaluation.attach(Accuracy(), name: "accuracy") { ClassificationBatch(predictions: $0.predictions, targets: $0.targets) }
/// let metrics = try evaluation.run()  // ["accuracy": ...], also in evaluator.state.metrics
/// ```
public final class DataParallelEvaluation<Output> {
    /// The engine that evaluates a batch.
    public let evaluator: Engine<SupervisedBatch, Output>
    /// The metrics attached, in the order they combine.
    public private(set) var metrics: [(name: String, metric: any Metric)] = []
    private let test: Dataset
    private let batchSize: Int
    private let parallel: DataParallel
    private let loader: DataLoader?

    init(evaluator: Engine<SupervisedBatch, Output>, test: Dataset, batchSize: Int, parallel: DataParallel) throws {
        try ArgumentError.require(batchSize > 0, "makeEvaluation(batchSize:)", batchSize, "at least 1")
        self.evaluator = evaluator
        self.test = test
        self.batchSize = batchSize
        self.parallel = parallel
        let world = parallel.communicator
        loader =
            parallel.shards != nil
            ? nil
            : try DataLoader(
                dataset: test, batchSize: batchSize,
                sampler: DistributedSampler(count: test.count, worldSize: world.size, rank: world.rank, shuffle: false, tail: .uneven))
    }

    /// Attaches `metric` under `name`, updated from each batch's output.
    /// - Throws: `ArgumentError` for a metric that gathers every value (ROC AUC, curves, `EpochMetric`) in
    ///   virtual-shard mode: values ranked over the whole split cannot be combined shard by shard.
    public func attach<M: Metric>(_ metric: M, name: String, outputTransform: @escaping (Output) -> M.Input) throws {
        if parallel.shards != nil {
            metric.reset()
            try ArgumentError.require(
                !metric.sums.isEmpty, "DataParallelEvaluation.attach", name,
                "a metric of sums (one that gathers its values cannot be combined per virtual shard)")
            try metric.attachUpdates(to: evaluator, outputTransform: outputTransform)
        } else {
            metric.communicator = parallel.communicator
            try metric.attachUpdates(to: evaluator, usage: .runWise, outputTransform: outputTransform)
        }
        metrics.append((name, metric))
    }

    /// Evaluates the test split on every rank and returns the world's metric values (NaN where the data leaves a
    /// metric undefined), also written to `evaluator.state.metrics`. A collective.
    @discardableResult
    public func run() throws -> [String: Double] {
        if let shards = parallel.shards {
            try ShardwiseEvaluation(test: test, batchSize: batchSize, shards: shards, metrics: metrics).run(
                evaluator, communicator: parallel.communicator)
        } else if let loader {
            if loader.batchesPerPass > 0 {
                try evaluator.run(loader)
            } else {
                for entry in metrics { entry.metric.reset() }  // a rank with no test sample still joins the reductions
            }
            for (name, metric) in metrics {
                do {
                    evaluator.state.metrics[name] = try metric.compute()
                } catch is MetricError {
                    evaluator.state.metrics[name] = .nan
                }
            }
        }
        return Dictionary(metrics.map { ($0.name, evaluator.state.metrics[$0.name] ?? .nan) }, uniquingKeysWith: { a, _ in a })
    }
}
