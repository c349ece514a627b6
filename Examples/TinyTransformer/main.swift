import Autodiff
import EngineCore
import NeuralNet
import Training
// A one-block causal transformer language model over characters, written as differentiable Swift: token and
// position embeddings, a pre-norm transformer block (multi-head causal attention, GELU MLP), layer norm, and a
// head predicting the next character at every position (SequenceCrossEntropy). Trained with the library's
// engine, then sampled greedily.
//   swift run example-tiny-transformer [EPOCHS]
import _Differentiation

struct TinyTransformer: DifferentiableModel {
    var tokens: Embedding, positions: Embedding, block: TransformerBlock, norm: LayerNorm, head: Dense
    @noDerivative let context: Int

    init(vocabulary: Int, context: Int, width: Int, heads: Int, random: inout CounterRandom) {
        tokens = Embedding(vocabulary: vocabulary, width: width, random: &random)
        positions = Embedding(vocabulary: context, width: width, random: &random)
        block = TransformerBlock(width: width, heads: heads, causal: true, random: &random)
        norm = LayerNorm(width: width)
        head = Dense(inputs: width, outputs: vocabulary, random: &random)
        self.context = context
    }

    /// Token indices [batch, context] → next-token logits [batch, context, vocabulary].
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        let h = tokens(x) + positions(Array(0..<context), shape: [context])
        return head(norm(block(h)))
    }
}

let epochs = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 8
let text = Array("the quick brown fox jumps over the lazy dog. ".utf8).map { Int($0) }
let alphabet = Array(Set(text)).sorted()
let index = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, $0) })
let tokens = text.map { index[$0]! }
let context = 16
let vocabulary = alphabet.count

// Every window of the (repeating) text, its target the window shifted by one.
let windows = (0..<text.count).map { start in (0...context).map { tokens[(start + $0) % tokens.count] } }
let batches = stride(from: 0, to: windows.count, by: 9).map { start -> SupervisedBatch in
    let group = windows[start..<min(start + 9, windows.count)]
    return SupervisedBatch(
        inputs: Tensor(shape: [group.count, context], values: group.flatMap { $0.dropLast().map(Float.init) }),
        targets: Tensor(shape: [group.count, context], values: group.flatMap { $0.dropFirst().map(Float.init) }))
}

var random = CounterRandom(seed: 0, stream: 1)
let model = try AutodiffModel(
    TinyTransformer(vocabulary: vocabulary, context: context, width: 32, heads: 4, random: &random),
    inputShape: [context], outputShape: [context, vocabulary])
let trainer = makeSupervisedTrainer(
    model: model, optimizer: AdamW(arena: model.arena, learningRate: 1e-2),
    loss: SequenceCrossEntropy(classes: vocabulary))
try trainer.on(.epochCompleted) { engine in print("epoch \(engine.state.epoch): loss \(engine.state.output!.loss)") }
try trainer.run(Array(repeating: batches, count: 10).flatMap { $0 }, maxEpochs: epochs)

// Greedy continuation of a prompt: the most likely next character, one at a time.
var generated = Array(tokens.prefix(context))
for _ in 0..<30 {
    let logits = try model(Tensor(shape: [1, context], values: generated.suffix(context).map(Float.init)))
    let last = Array(logits.values.suffix(vocabulary))
    generated.append(last.indices.max { last[$0] < last[$1] }!)
}
print("sample: " + String(decoding: generated.map { alphabet[$0] }.map(UInt8.init), as: UTF8.self))
