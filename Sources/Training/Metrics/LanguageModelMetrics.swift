import Cluster
import EngineCore
import Foundation
import NeuralNet

/// A language model's next-token logits [batch, time, vocabulary] (or [batch, time·vocabulary]) and targets
/// [batch, time], for the token metrics.
public struct TokenBatch: Sendable {
    /// Logits, `vocabulary` per position.
    public let logits: Tensor
    /// The next token at every position (integers stored as Float); `ignoreIndex` positions are not counted.
    public let targets: Tensor

    /// A batch of logits and targets.
    public init(logits: Tensor, targets: Tensor) {
        self.logits = logits
        self.targets = targets
    }
}

/// What a `TokenLoss` reports from the same sums.
public enum TokenLossMeasure: Sendable {
    /// The mean cross-entropy per token, in nats.
    case loss
    /// e^loss.
    case perplexity
    /// loss / ln 2: bits per token, bits per byte for a byte-level model.
    case bitsPerToken
}

/// The mean next-token cross-entropy over every counted position of every rank (sums of the token losses in
/// Double and of the tokens, added over the ranks), and the perplexity or bits per byte from it.
public final class TokenLoss: Metric {
    /// [Σ −log p(target), tokens].
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    /// What `compute` returns.
    public let measure: TokenLossMeasure
    /// The vocabulary (classes per position).
    public let vocabulary: Int
    /// Targets left out (padding), as PyTorch's `ignore_index`.
    public let ignoreIndex: Int

    /// A token metric over `vocabulary` classes, reduced over `communicator`'s ranks when given.
    /// - Throws: `ArgumentError` for a vocabulary below 1.
    public init(
        vocabulary: Int, measure: TokenLossMeasure = .loss, ignoreIndex: Int = -100,
        communicator: (any Communicator)? = nil
    ) throws {
        try ArgumentError.require(vocabulary > 0, "TokenLoss(vocabulary:)", vocabulary, "at least 1")
        self.vocabulary = vocabulary
        self.measure = measure
        self.ignoreIndex = ignoreIndex
        self.communicator = communicator
    }

    public func update(_ batch: TokenBatch) throws {
        let positions = batch.targets.count
        if batch.logits.count != positions * vocabulary {
            throw MetricError("TokenLoss: logits \(batch.logits.shape) do not hold \(vocabulary) classes for targets \(batch.targets.shape)")
        }
        for target in batch.targets.values where Int(exactly: target) != ignoreIndex {
            guard target >= 0 && target < Float(vocabulary) && target.rounded() == target else {
                throw MetricError("TokenLoss: target \(target) outside 0..<\(vocabulary)")
            }
        }
        batch.logits.values.withUnsafeBufferPointer { logits in
            for position in 0..<positions {
                let target = batch.targets.values[position]
                guard Int(exactly: target) != ignoreIndex else { continue }
                let row = logits.baseAddress! + position * vocabulary
                var top = Double(row[0])
                for c in 1..<vocabulary { top = Swift.max(top, Double(row[c])) }
                var total = 0.0
                for c in 0..<vocabulary { total += Foundation.exp(Double(row[c]) - top) }
                sums[0] += Foundation.log(total) + top - Double(row[Int(target)])
                sums[1] += 1
            }
        }
    }

    public func value(from sums: [Double]) throws -> Double {
        let mean = try self.mean(of: sums, "TokenLoss")
        switch measure {
        case .loss: return mean
        case .perplexity: return Foundation.exp(mean)
        case .bitsPerToken: return mean / Foundation.log(2)
        }
    }
}
