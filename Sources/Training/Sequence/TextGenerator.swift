import Foundation
import NeuralNet

/// A prompt or sampling setting `TextGenerator` cannot use.
public enum TextGenerationError: Error, Equatable, CustomStringConvertible {
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)
    case tokenOutsideVocabulary(token: Int, vocabulary: Int)
    case badSetting(String)

    public var description: String {
        switch self {
        case .emptyPrompt: "the prompt is empty: give at least one character"
        case .promptTooLong(let tokens, let context): "the prompt has \(tokens) tokens, more than the model's context of \(context)"
        case .tokenOutsideVocabulary(let token, let vocabulary): "the prompt holds token \(token), outside the vocabulary 0..<\(vocabulary)"
        case .badSetting(let reason): reason
        }
    }
}

/// Continues a prompt with a language model, one token at a time: greedy at temperature 0, else drawn from
/// softmax(logits / temperature) restricted to the `topK` most likely tokens, from a seeded counter-based generator
/// (the same seed gives the same text). A recurrent model (`RecurrentStateModel`) reads the prompt once and then one
/// token per step from its carried state; a windowed model (a GPT) reads the last `context` tokens at each step.
public struct TextGenerator {
    /// The model: next-token logits [batch, time, vocabulary] for token ids [batch, time].
    public let model: any Model
    /// Tokens a windowed model reads at most.
    public let context: Int
    /// 0: always the most likely token.
    public let temperature: Double
    /// Draw only among the k most likely tokens (nil: all).
    public let topK: Int?
    private var random: CounterRandom

    /// A generator over `model`.
    /// - Throws: `TextGenerationError.badSetting` for a negative or non-finite temperature or a top-k below 1.
    public init(model: any Model, context: Int, temperature: Double = 1, topK: Int? = nil, seed: UInt64 = 0) throws {
        guard temperature >= 0, temperature.isFinite else {
            throw TextGenerationError.badSetting("the temperature must be a finite number ≥ 0, got \(temperature)")
        }
        if let topK, topK < 1 { throw TextGenerationError.badSetting("--top-k must be at least 1, got \(topK)") }
        self.model = model
        self.context = context
        self.temperature = temperature
        self.topK = topK
        random = CounterRandom(seed: seed, stream: CounterRandom.streamKey(purpose: "generate"))
    }

    /// The vocabulary (the model's outputs per position).
    public var vocabulary: Int { model.outputShape.last ?? 0 }

    /// `count` tokens continuing `prompt`.
    /// - Throws: `TextGenerationError` for an empty prompt, one longer than the context or holding a token outside
    ///   the vocabulary; the model's errors.
    public mutating func continuation(of prompt: [Int], count: Int) throws -> [Int] {
        guard !prompt.isEmpty else { throw TextGenerationError.emptyPrompt }
        guard prompt.count <= context else { throw TextGenerationError.promptTooLong(tokens: prompt.count, context: context) }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw TextGenerationError.tokenOutsideVocabulary(token: bad, vocabulary: vocabulary)
        }
        let evaluation = LayerContext(training: false, randomKey: 0)
        var tokens = prompt
        var generated: [Int] = []
        let recurrent = model as? any RecurrentStateModel
        recurrent?.carriedState = []
        var pending = prompt
        for _ in 0..<count {
            let logits: ArraySlice<Float>
            if let recurrent {
                let output = try recurrent.forward(Tensor(shape: [1, pending.count], values: pending.map(Float.init)), context: evaluation)
                logits = output.values.suffix(vocabulary)
            } else {
                let window = Array(tokens.suffix(context))
                // A causal model: positions after the window do not change the window's logits; pad to the context.
                let padded = window + [Int](repeating: 0, count: context - window.count)
                let output = try model.forward(Tensor(shape: [1, context], values: padded.map(Float.init)), context: evaluation)
                logits = output.values[((window.count - 1) * vocabulary)..<(window.count * vocabulary)]
            }
            let next = pick(Array(logits))
            generated.append(next)
            tokens.append(next)
            pending = [next]
        }
        return generated
    }

    /// The next token from one position's logits.
    private mutating func pick(_ logits: [Float]) -> Int {
        var order = Array(logits.indices)
        if temperature == 0 { return order.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }! }
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let kept = Array(order.prefix(topK ?? order.count))
        let top = Double(logits[kept[0]])
        let weights = kept.map { Foundation.exp((Double(logits[$0]) - top) / temperature) }
        var draw = Double(random.nextUniform()) * weights.reduce(0, +)
        for (index, weight) in zip(kept, weights) {
            if draw < weight { return index }
            draw -= weight
        }
        return kept.last!
    }
}
