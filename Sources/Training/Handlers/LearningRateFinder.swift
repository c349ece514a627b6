import Cluster
import EngineCore
import Foundation
import NeuralNet

/// Ignite's `FastaiLRFinder`: trains for a few iterations with a learning rate rising from the optimizer's to `end`,
/// records the smoothed loss, stops early when it diverges, then puts the trainer, the model and the optimizer back
/// exactly as they were; `suggestion()` is the rate at the steepest descent of the loss.
///
/// Knowingly unlike Ignite: iteration k of n runs at `start · (end / start)^(k / n)` and that is the rate recorded
/// beside its loss (Ignite records each rate beside the loss of the iteration before it), and it runs n iterations,
/// not n + 1. The loss is the mean over ranks (Ignite sums it).
public final class LearningRateFinder {
    /// How the rate rises.
    public enum Mode: Sendable { case exponential, linear }

    /// What a search found.
    public struct Result: Sendable, Equatable {
        /// The rate of each iteration run.
        public var learningRates: [Double]
        /// The smoothed loss of each iteration run.
        public var losses: [Double]
        /// Whether the search stopped because the loss exceeded `divergence` times its best.
        public var diverged: Bool

        /// A result from recorded rates and losses (to ask a saved search for its suggestion).
        public init(learningRates: [Double], losses: [Double], diverged: Bool) {
            (self.learningRates, self.losses, self.diverged) = (learningRates, losses, diverged)
        }

        /// The rate at the steepest (central-difference) descent of the loss before its minimum (Ignite's
        /// `lr_suggestion`).
        /// - Throws: `LearningRateFinderError.noDescent` when fewer than 3 losses lead to the minimum.
        public func suggestion() throws -> Double {
            guard let minimum = losses.indices.min(by: { losses[$0] < losses[$1] }), minimum >= 2 else {
                throw LearningRateFinderError.noDescent
            }
            var steepest = 1
            var steepestSlope = Double.infinity
            for index in 1..<minimum {
                let slope: Double = 0.5 * (losses[index + 1] - losses[index - 1])
                if slope < steepestSlope { (steepest, steepestSlope) = (index, slope) }
            }
            return learningRates[steepest]
        }
    }

    /// The last rate.
    public let end: Double
    /// Iterations of the search.
    public let iterations: Int
    /// How the rate rises from the start to `end`: linearly or exponentially.
    public let mode: Mode
    /// The loss's smoothing factor in [0, 1): `smoothed = f · loss + (1 − f) · previous`.
    public let smoothing: Double
    /// Stop when the smoothed loss exceeds this many times the best one.
    public let divergence: Double

    /// A search up to `end` over `iterations` iterations.
    /// - Throws: `ArgumentError` for a non-positive end, fewer than 2 iterations, a smoothing outside [0, 1) or a
    ///   divergence threshold of 1 or less.
    public init(
        end: Double = 10, iterations: Int = 100, mode: Mode = .exponential, smoothing: Double = 0.05,
        divergence: Double = 5
    ) throws {
        try ArgumentError.require(end > 0 && end.isFinite, "LearningRateFinder(end:)", end, "a positive number")
        try ArgumentError.require(iterations >= 2, "LearningRateFinder(iterations:)", iterations, "at least 2")
        try ArgumentError.require(smoothing >= 0 && smoothing < 1, "LearningRateFinder(smoothing:)", smoothing, "in [0, 1)")
        try ArgumentError.require(divergence > 1 && divergence.isFinite, "LearningRateFinder(divergence:)", divergence, "more than 1")
        (self.end, self.iterations, self.mode, self.smoothing, self.divergence) = (end, iterations, mode, smoothing, divergence)
    }

    /// The rate of iteration `k` (from 1) when the search starts at `start`.
    public func learningRate(iteration k: Int, start: Double) -> Double {
        let progress = Double(k) / Double(iterations)
        return switch mode {
        case .exponential: start * pow(end / start, progress)
        case .linear: start + (end - start) * progress
        }
    }

    /// Searches on `trainer` over `data`, from `optimizer`'s current rate, with the loss read from each output; the
    /// trainer, `optimizer` and `restoring` (the model's state, with anything else the steps change) are put back
    /// afterwards, even when the search throws. Every rank of `communicator` calls it (the loss is averaged).
    /// - Throws: `ArgumentError` when the optimizer's rate is not positive; what the trainer throws.
    public func run<Batch, Output, Data: Sequence>(
        trainer: Engine<Batch, Output>, data: Data, optimizer: any Optimizer, restoring objects: [any Stateful],
        communicator: any Communicator = LocalCommunicator(), loss: @escaping (Output) -> Double
    ) throws -> Result where Data.Element == Batch {
        let start = optimizer.learningRate
        try ArgumentError.require(start > 0 && start.isFinite, "LearningRateFinder.run(optimizer:)", start, "a positive learning rate to start from")
        let optimizerState = OptimizerState(optimizer)
        let saved = (trainer: trainer.stateDict(), optimizer: optimizerState.stateDict(), objects: objects.map { $0.stateDict() })
        var result = Result(learningRates: [], losses: [], diverged: false)
        var best = Double.infinity
        let rate = try trainer.on(.iterationStarted) { [self] engine in
            optimizer.learningRate = learningRate(iteration: engine.state.iteration, start: start)
        }
        let record = try trainer.on(.iterationCompleted) { [self] engine in
            guard let output = engine.state.output else { return }
            var value = loss(output)
            if communicator.size > 1 { value = try communicator.allReduce(value, .sum) / Double(communicator.size) }
            if let previous = result.losses.last, smoothing > 0 { value = smoothing * value + (1 - smoothing) * previous }
            result.learningRates.append(optimizer.learningRate)
            result.losses.append(value)
            best = Swift.min(best, value)
            if value > divergence * best || !value.isFinite {
                result.diverged = true
                engine.terminate()
            }
        }
        defer {
            rate.remove()
            record.remove()
            try? trainer.loadStateDict(saved.trainer)
            try? optimizerState.loadStateDict(saved.optimizer)
            optimizer.learningRate = start
            for (object, state) in zip(objects, saved.objects) { try? object.loadStateDict(state) }
        }
        try trainer.run(data, maxIterations: iterations)
        return result
    }
}

/// Why a learning-rate search gave no suggestion.
public enum LearningRateFinderError: Error, Equatable, CustomStringConvertible {
    /// The loss did not fall for at least 3 iterations: start lower or end higher.
    case noDescent

    public var description: String {
        "the learning-rate search's loss did not fall over at least 3 iterations: start from a lower rate or raise the end rate"
    }
}
