import Cluster
import EngineCore

/// Test metrics with the same bits for every world size that divides a run's virtual shards: each owned shard of the
/// test split is evaluated on its own (the same batches whatever the world), and the metrics' sums are added in the
/// shards' fixed tree across the ranks. What `--virtual-shards` evaluation is, for library users.
///
/// ```swift
/// let metrics: [(name: String, metric: any Metric)] = [("accuracy", accuracy)]
/// try accuracy.attachUpdates(to: evaluator) { ClassificationBatch(predictions: $0.predictions, targets: $0.targets) }
/// let evaluation = try ShardwiseEvaluation(test: test, batchSize: 256, shards: shards, metrics: metrics)
/// try evaluation.run(evaluator, communicator: world)  // evaluator.state.metrics["accuracy"]
/// ```
public struct ShardwiseEvaluation {
    /// The run's shards, seen from this rank.
    public let shards: VirtualShards
    /// One loader per owned shard, in shard order.
    public let loaders: [DataLoader]
    /// The metrics, attached to the evaluator to reset and update only (`attachUpdates`): their sums are combined here.
    public let metrics: [(name: String, metric: any Metric)]

    /// The evaluation of `test` in `batchSize`-sample batches per shard with `metrics`, which the caller attached to the
    /// evaluator with `attachUpdates` (summing metrics: a metric that gathers its values cannot be combined by shard).
    /// - Throws: `ArgumentError` for a batch size below 1.
    public init(test: Dataset, batchSize: Int, shards: VirtualShards, metrics: [(name: String, metric: any Metric)]) throws {
        self.shards = shards
        self.metrics = metrics
        loaders = try shards.ownedShards.map { shard in
            try DataLoader(
                dataset: test, batchSize: batchSize,
                sampler: DistributedSampler(count: test.count, worldSize: shards.count, rank: shard, shuffle: false, tail: .uneven))
        }
    }

    /// Evaluates every owned shard and writes the world's metric values into `evaluator.state.metrics` (NaN where the
    /// data leaves a metric undefined). A collective.
    public func run<Output>(_ evaluator: Engine<SupervisedBatch, Output>, communicator: any Communicator) throws {
        var perShard: [[Double]] = []
        for loader in loaders {
            if loader.sampler.samplesPerRank > 0 {
                try evaluator.run(loader)
            } else {
                for entry in metrics { entry.metric.reset() }
            }
            perShard.append(metrics.flatMap { $0.metric.sums })
        }
        let total = try shards.treeSum(perShard, over: communicator)
        var offset = 0
        for (name, metric) in metrics {
            let count = metric.sums.count
            do {
                evaluator.state.metrics[name] = try metric.value(from: Array(total[offset..<offset + count]))
            } catch is MetricError {
                evaluator.state.metrics[name] = .nan  // undefined for this data (null in a summary)
            }
            offset += count
        }
    }
}
