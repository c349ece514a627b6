import Cluster
import Foundation
import Training

extension TrainingConfiguration {
    /// Every option of the run as (flag, value), in a fixed order: what all ranks of a job must agree on, what
    /// `--print-config` prints and what checkpoints and logs record.
    public var optionValues: [(option: String, value: String)] {
        [
            ("--data", data.description), ("--label-column", "\(labelColumn)"), ("--test-fraction", "\(testFraction)"),
            ("--test-data", testData?.description ?? "none"), ("--task", task.description), ("--model", model.description),
            ("--epochs", "\(epochs)"), ("--batch-size", "\(batchSize)"),
            ("--virtual-shards", virtualShards.map(String.init) ?? "off"), ("--lr", "\(learningRate)"),
            ("--optimizer", optimizer.rawValue), ("--momentum", "\(momentum)"), ("--weight-decay", "\(weightDecay)"),
            ("--scheduler", "\(scheduler)"), ("--seed", "\(seed)"), ("--checkpoint-dir", checkpointDirectory ?? "none"),
            ("--checkpoint-every", checkpointEvery.map(String.init) ?? "per epoch"), ("--keep", "\(keep)"),
            ("--resume", "\(resume)"), ("--deterministic", "\(deterministic)"),
            ("--check-consistency", consistencyCheckEvery.map(String.init) ?? "off"), ("--normalize", "\(normalize)"),
            ("--builtin-samples", "\(builtinSamples)"), ("--overlap", "\(overlapCommunication)"),
            ("--collective-timeout", collectiveTimeout.map { "\($0)" } ?? "none"),
            ("--eval-every", evaluateEvery.map(String.init) ?? "per epoch"), ("--save-best", saveBest ?? "none"),
            ("--early-stopping", earlyStoppingPatience.map(String.init) ?? "off"),
            ("--clip-grad-norm", clipGradientNorm.map { "\($0)" } ?? "off"),
            ("--ema", emaDecay.map { "\($0)" } ?? "off"), ("--metrics", metrics?.joined(separator: ",") ?? "default"),
            ("--time-limit", timeLimit.map { "\($0)" } ?? "none"),
            ("--tensorboard", tensorBoardDirectory ?? "none"), ("--trace", tracePath ?? "none"),
            ("--lr-find", learningRateSearch.map(String.init) ?? "off"),
            ("--stop-after", stopAfterIterations.map(String.init) ?? "none"),
            ("--context", "\(context)"), ("--tbptt", "\(tbptt)")
        ]
    }
}

/// Ranks started with different options would hang in a collective, crash inside MPI or diverge silently:
/// before anything else, every rank shares its options and all refuse a mismatch, naming the option and the ranks.
enum ConfigurationAgreement {
    /// One collective: throws on every rank when any rank's options differ from rank 0's (rank 0 prints it).
    static func check(_ configuration: TrainingConfiguration, communicator: any Communicator) throws {
        guard communicator.size > 1 else { return }
        let lines = configuration.optionValues.map { "\($0.option)=\($0.value)" }
        let gathered = try communicator.allGather(bytes: Array(lines.joined(separator: "\n").utf8))
        let texts = gathered.map { String(decoding: $0, as: UTF8.self).components(separatedBy: "\n") }
        var differences: [String] = []
        for (rank, other) in texts.enumerated().dropFirst() where other != texts[0] {
            for (mine, theirs) in zip(texts[0], other) where mine != theirs {
                let option = String(mine.prefix { $0 != "=" })
                differences.append(
                    "\(option) is \(mine.dropFirst(option.count + 1)) on rank 0 but "
                        + "\(theirs.dropFirst(option.count + 1)) on rank \(rank)")
            }
        }
        guard !differences.isEmpty else { return }
        if communicator.rank == 0 {
            throw AgreedFailure.report("the ranks were started with different options: " + differences.joined(separator: "; "))
        }
        throw AgreedFailure.silent
    }
}
