import EngineCore
import NeuralNet

/// What `TensorBoardWriter.attachParameterSummaries` writes for each parameter: Ignite's `WeightsScalarHandler`,
/// `GradsScalarHandler`, `WeightsHistHandler` and `GradsHistHandler`, under the same tags.
public struct ParameterSummaries: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Each parameter's L2 norm, as `weights_norm/NAME`.
    public static let weightNorms = ParameterSummaries(rawValue: 1)
    /// Each parameter's gradient L2 norm, as `grads_norm/NAME`.
    public static let gradientNorms = ParameterSummaries(rawValue: 2)
    /// A histogram of each parameter's values, as `weights/NAME`.
    public static let weightHistograms = ParameterSummaries(rawValue: 4)
    /// A histogram of each parameter's gradient, as `grads/NAME`.
    public static let gradientHistograms = ParameterSummaries(rawValue: 8)
    /// All four.
    public static let all: ParameterSummaries = [.weightNorms, .gradientNorms, .weightHistograms, .gradientHistograms]
}

extension TensorBoardWriter {
    /// Writes `summaries` of every parameter of `arena` each time `event` fires, as Ignite's weight and gradient
    /// handlers do, at `globalStep` of the engine's state (default: the epoch for epoch events, the iteration
    /// otherwise). The gradients are the last step's, averaged over the ranks. Only the writing rank computes anything.
    /// - Throws: `EngineError` for an event the engine cannot fire.
    public func attachParameterSummaries<Batch, Output>(
        to engine: Engine<Batch, Output>, arena: ParameterArena, event: Event = .epochCompleted,
        summaries: ParameterSummaries = .all, tagPrefix: String = "", globalStep: ((EngineState) -> Int)? = nil
    ) throws {
        guard isWriting, !summaries.isEmpty else { return }
        let countsEpochs = [Event.started, .epochStarted, .epochCompleted, .completed].contains(event)
        try engine.on(event) { [self] engine in
            let step = globalStep?(engine.state) ?? (countsEpochs ? engine.state.epoch : engine.state.iteration)
            let values = arena.parameterValues
            let gradients = arena.gradientValues
            for entry in arena.entries {
                let weights = values[entry.range]
                let gradient = gradients[entry.range]
                if summaries.contains(.weightNorms) { addScalar("\(tagPrefix)weights_norm/\(entry.name)", Self.norm(weights), step: step) }
                if summaries.contains(.gradientNorms) { addScalar("\(tagPrefix)grads_norm/\(entry.name)", Self.norm(gradient), step: step) }
                if summaries.contains(.weightHistograms) { addHistogram("\(tagPrefix)weights/\(entry.name)", values: weights, step: step) }
                if summaries.contains(.gradientHistograms) { addHistogram("\(tagPrefix)grads/\(entry.name)", values: gradient, step: step) }
            }
        }
    }

    /// The L2 norm, summed in double precision.
    static func norm(_ values: ArraySlice<Float>) -> Double {
        values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }
}
