import Cluster
import EngineCore
import Training

/// Test metrics with the same bits for every world size that divides a run's virtual shards: each owned shard of
/// the test split is evaluated on its own (the same batches whatever the world), and the metrics' sums are added in
/// the shards' fixed tree across the ranks.
struct ShardedEvaluation {
    let shards: VirtualShards
    /// One loader per owned shard, in shard order.
    let loaders: [DataLoader]
    /// The evaluator's metrics, attached to reset and update only.
    let metrics: [(name: String, metric: any Metric)]

    /// The evaluation of `test` in `batchSize`-sample batches per shard, with the task's metrics attached to `evaluator`.
    init(
        test: Dataset, batchSize: Int, shards: VirtualShards, plan: TaskPlan,
        evaluator: Engine<SupervisedBatch, SupervisedOutput>, communicator: any Communicator
    ) throws {
        self.shards = shards
        loaders = try shards.ownedShards.map { shard in
            try DataLoader(
                dataset: test, batchSize: batchSize,
                sampler: DistributedSampler(
                    count: test.count, worldSize: shards.count, rank: shard, shuffle: false,
                    tail: .uneven))
        }
        metrics = try plan.attachMetrics(to: evaluator, communicator: communicator, combinedByCaller: true)
    }

    /// Evaluates every owned shard and writes the world's metric values into `evaluator.state.metrics`. A collective.
    func run(_ evaluator: Engine<SupervisedBatch, SupervisedOutput>, communicator: any Communicator) throws {
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
                evaluator.state.metrics[name] = .nan  // undefined for this data (null in the summary)
            }
            offset += count
        }
    }
}
