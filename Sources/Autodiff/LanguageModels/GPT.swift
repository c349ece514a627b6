import NeuralNet
import _Differentiation

/// A decoder-only transformer language model (GPT-2's layout, the model of BENCHMARKS.md B10): token and learnt
/// position embeddings, `layers` pre-norm causal transformer blocks, a final layer norm and a dense head to
/// next-token logits at every position. Input: token ids [batch, time] with time ≤ `context`.
public struct GPT: DifferentiableModel {
    /// The token embedding.
    public var tokens: Embedding
    /// The learned position embedding.
    public var positions: Embedding
    /// The pre-norm transformer blocks, bottom first.
    public var blocks: [TransformerBlock]
    /// The final layer norm.
    public var norm: LayerNorm
    /// The projection to the vocabulary's logits.
    public var head: Dense
    /// The longest sequence it reads.
    @noDerivative public let context: Int

    /// A model over `vocabulary` tokens with `layers` blocks of `width` features and `heads` heads.
    public init(vocabulary: Int, context: Int, width: Int, heads: Int, layers: Int, dropout: Float = 0, random: inout CounterRandom) {
        ensure(vocabulary > 0 && context > 0 && layers > 0, "GPT needs a positive vocabulary, context and layer count")
        tokens = Embedding(vocabulary: vocabulary, width: width, random: &random)
        positions = Embedding(vocabulary: context, width: width, random: &random)
        var blocks: [TransformerBlock] = []
        for _ in 0..<layers { blocks.append(TransformerBlock(width: width, heads: heads, causal: true, dropout: dropout, random: &random)) }
        self.blocks = blocks
        norm = LayerNorm(width: width)
        head = Dense(inputs: width, outputs: vocabulary, random: &random)
        self.context = context
    }

    /// Token ids [batch, time] → logits [batch, time, vocabulary].
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor {
        let time = x.shape[1]
        ensure(time <= context, "GPT: a sequence of \(time) tokens is longer than the context \(context)")
        var h = tokens(x) + positions(Array(0..<time), shape: [time])
        for index in withoutDerivative(at: blocks.indices) { h = blocks[index](h) }
        return head(norm(h))
    }
}
