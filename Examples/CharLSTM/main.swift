import Autodiff
import EngineCore
import Foundation
import NeuralNet
import Training
// A character (byte) LSTM trained with truncated backpropagation through time, as Ignite's
// create_supervised_tbptt_trainer: each batch of 64-byte windows is cut into chunks of 16 steps, the state carried
// from chunk to chunk detached, one optimizer step per chunk. A handler on the time-iteration event reports the
// chunk losses; the validation windows give the loss in bits per byte; then the model writes a continuation.
//   swift run example-char-lstm [TEXT_FILE] [EPOCHS]
import _Differentiation

let arguments = Array(CommandLine.arguments.dropFirst())
let path = arguments.first { !$0.allSatisfy(\.isNumber) }
let epochs = arguments.first { $0.allSatisfy(\.isNumber) }.flatMap { Int($0) } ?? 20
let sample = String(repeating: "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat. ", count: 20)
let corpus = try path.map { try TextCorpus(contentsOf: $0) } ?? TextCorpus(bytes: Array(sample.utf8), source: "built-in text")
let (train, validation) = try corpus.languageModelWindows(context: 64, validationFraction: 0.1, seed: 0)
print("text: \(corpus.bytes.count) bytes, \(train.count) training windows, \(validation.count) validation windows")

var random = CounterRandom(seed: 0, stream: 1)
let model = try AutodiffRecurrentModel(
    RecurrentLanguageModel(
        vocabulary: 256, embeddingWidth: 32, hidden: 128, cell: .lstm,
        random: &random), outputShape: [256])
let trainer = makeTruncatedBPTTTrainer(
    model: model, optimizer: Adam(arena: model.arena, learningRate: 3e-3),
    loss: SequenceCrossEntropy(classes: 256), chunkLength: 16)
try trainer.on(.timeIterationCompleted(every: 40)) { engine in
    print("time iteration \(engine.state[TruncatedBPTTState.timeIteration]!): chunk loss \(engine.state.output!.loss)")
}
let evaluator = makeLanguageModelEvaluator(model: model)
try TokenLoss(vocabulary: 256, measure: .bitsPerToken).attach(to: evaluator, name: "bits_per_byte", usage: .runWise) {
    TokenBatch(logits: $0.predictions, targets: $0.targets)
}
try trainer.on(.epochCompleted) { engine in
    try evaluator.run(try DataLoader(dataset: validation, batchSize: 16, sampler: DistributedSampler(count: validation.count, shuffle: false)))
    print("epoch \(engine.state.epoch): validation bits per byte \(evaluator.state.metrics["bits_per_byte"]!)")
}
try trainer.run(try DataLoader(dataset: train, batchSize: 8, sampler: DistributedSampler(count: train.count, seed: 0)), maxEpochs: epochs)

// A continuation of "the ", one byte at a time from the carried state (the most likely byte each step).
model.carriedState = []
var text = Array("the ".utf8)
var logits = try model(Tensor(shape: [1, text.count], values: text.map(Float.init)))
for _ in 0..<40 {
    let last = Array(logits.values.suffix(256))
    let next = UInt8(last.indices.max { last[$0] < last[$1] }!)
    text.append(next)
    logits = try model(Tensor(shape: [1, 1], values: [Float(next)]))
}
print("sample: " + String(decoding: text, as: UTF8.self))
