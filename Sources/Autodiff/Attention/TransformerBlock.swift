import NeuralNet
import _Differentiation

/// A pre-norm transformer block (GPT-2's): x + attention(norm(x)), then + MLP(norm(·)) with a GELU between two
/// dense layers of `expansion`·width; dropout after the attention and the MLP while training.
public struct TransformerBlock: Differentiable {
    /// The layer norm before attention.
    public var attentionNorm: LayerNorm
    /// The causal multi-head self-attention.
    public var attention: MultiHeadAttention
    /// The layer norm before the MLP.
    public var mlpNorm: LayerNorm
    /// The MLP's first projection, to 4x the width.
    public var expand: Dense
    /// The MLP's second projection, back to the width.
    public var contract: Dense
    /// Dropout probability on each residual branch (0: none).
    @noDerivative public let dropoutProbability: Float

    /// A block over `width` features with `heads` attention heads.
    public init(width: Int, heads: Int, causal: Bool = true, expansion: Int = 4, dropout: Float = 0, random: inout CounterRandom) {
        ensure(expansion > 0, "TransformerBlock needs a positive expansion")
        attentionNorm = LayerNorm(width: width)
        attention = MultiHeadAttention(width: width, heads: heads, causal: causal, random: &random)
        mlpNorm = LayerNorm(width: width)
        expand = Dense(inputs: width, outputs: expansion * width, random: &random)
        contract = Dense(inputs: expansion * width, outputs: width, random: &random)
        dropoutProbability = dropout
    }

    /// [batch, time, width] → [batch, time, width].
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor) -> DTensor {
        let h = x + dropout(attention(attentionNorm(x)), probability: dropoutProbability)
        return h + dropout(contract(gelu(expand(mlpNorm(h)))), probability: dropoutProbability)
    }
}
