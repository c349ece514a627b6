import NeuralNet
import _Differentiation

/// The recurrent cell of a `RecurrentLanguageModel`.
public enum RecurrentCell: String, Sendable, Codable {
    case lstm, gru
}

/// A character (byte) language model: embedding, `layers` stacked LSTM or GRU layers, a dense head to next-token
/// logits at every step (the model of BENCHMARKS.md B9 with one layer). Its state stacks the layers' states along
/// the feature axis: hidden (and cell) [batch, layers·hidden].
public struct RecurrentLanguageModel: RecurrentDifferentiableModel {
    /// The byte embedding.
    public var embedding: Embedding
    /// The LSTM layers, bottom first (empty for a GRU).
    public var lstmLayers: [LSTM]
    /// The GRU layers, bottom first (empty for an LSTM).
    public var gruLayers: [GRU]
    /// The projection to the vocabulary's logits.
    public var head: Dense
    /// Which recurrent cell the layers are.
    /// Hidden units per layer.
    @noDerivative public let cell: RecurrentCell
    @noDerivative public let hiddenSize: Int

    /// A model over `vocabulary` tokens: embeddings of `embeddingWidth`, `layers` cells of `hidden` features.
    public init(
        vocabulary: Int, embeddingWidth: Int, hidden: Int, layers: Int = 1, cell: RecurrentCell = .lstm,
        random: inout CounterRandom
    ) {
        ensure(vocabulary > 0 && embeddingWidth > 0 && hidden > 0 && layers > 0, "RecurrentLanguageModel needs positive sizes")
        embedding = Embedding(vocabulary: vocabulary, width: embeddingWidth, random: &random)
        var lstms: [LSTM] = []
        var grus: [GRU] = []
        for layer in 0..<layers {
            let inputs = layer == 0 ? embeddingWidth : hidden
            if cell == .lstm {
                lstms.append(LSTM(inputs: inputs, hidden: hidden, random: &random))
            } else {
                grus.append(GRU(inputs: inputs, hidden: hidden, random: &random))
            }
        }
        lstmLayers = lstms
        gruLayers = grus
        head = Dense(inputs: hidden, outputs: vocabulary, random: &random)
        self.cell = cell
        hiddenSize = hidden
    }

    /// The number of stacked layers.
    public var layerCount: Int { cell == .lstm ? lstmLayers.count : gruLayers.count }

    /// The all-zero carried state of `batch` sequences, where every sequence starts.
    public func zeroState(batch: Int) -> RecurrentState {
        RecurrentState(batch: batch, hidden: layerCount * hiddenSize, cell: cell == .lstm)
    }

    /// Token ids [batch, time] from `state` → logits [batch, time, vocabulary] and the state after the last step.
    @differentiable(reverse)
    public func callAsFunction(_ x: DTensor, state: RecurrentState) -> RecurrentOutput {
        // An LSTM's first layer takes the token ids and the embedding (its input projection is then made per token).
        var h = cell == .lstm ? DTensor.zero : embedding(x)
        let width = hiddenSize
        var hiddens = slice(state.hidden, axis: 1, range: 0..<width)
        var cells = cell == .lstm ? slice(state.cell, axis: 1, range: 0..<width) : DTensor.zero
        for layer in 0..<withoutDerivative(at: layerCount) {
            let range = layer * width..<(layer + 1) * width
            let start = RecurrentState(
                hidden: slice(state.hidden, axis: 1, range: range),
                cell: cell == .lstm ? slice(state.cell, axis: 1, range: range) : DTensor.zero)
            let result =
                cell == .gru
                ? gruLayers[layer](h, state: start)
                : layer == 0 ? lstmLayers[0](tokens: x, embedding: embedding, state: start) : lstmLayers[layer](h, state: start)
            h = result.output
            if layer == 0 {
                hiddens = result.state.hidden
                cells = result.state.cell
            } else {
                hiddens = concat([hiddens, result.state.hidden], axis: 1)
                if cell == .lstm { cells = concat([cells, result.state.cell], axis: 1) }
            }
        }
        return RecurrentOutput(output: head(h), state: RecurrentState(hidden: hiddens, cell: cells))
    }
}
