import Autodiff
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training
// A small GPT trained data-parallel: run it alone or under `mpirun -n 2`; each rank trains on its shard of the
// windows, DataParallel averages the gradients, and rank 0 writes a continuation sampled with a temperature from a
// seeded generator (the same seed gives the same text).
//   swift run example-tiny-gpt [EPOCHS]        mpirun -n 2 .build/release/example-tiny-gpt
import _Differentiation

let epochs = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 40
let world: any Communicator = MPICommunicator.isLaunchedByMPI ? try MPICommunicator.initialize() : LocalCommunicator()
let text = String(repeating: "to be, or not to be, that is the question. ", count: 48)
let context = 32
let (train, _) = try TextCorpus(bytes: Array(text.utf8)).languageModelWindows(context: context, validationFraction: 0, seed: 0)

var random = CounterRandom(seed: 0, stream: 1)
let model = try AutodiffModel(
    GPT(vocabulary: 256, context: context, width: 64, heads: 4, layers: 2, random: &random),
    inputShape: [context], outputShape: [context, 256])
let optimizer = AdamW(arena: model.arena, learningRate: 3e-3, weightDecay: 0.01)
let trainer = makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SequenceCrossEntropy(classes: 256))
try DataParallel(communicator: world).attach(to: trainer, model: model, optimizer: optimizer)
try Loss(communicator: world).attach(to: trainer, name: "loss") { (Double($0.loss), $0.count) }
try trainer.on(.epochCompleted(every: 5)) { engine in
    if world.rank == 0 { print("epoch \(engine.state.epoch): loss \(engine.state.metrics["loss"]!)") }
}
let sampler = DistributedSampler(count: train.count, worldSize: world.size, rank: world.rank, seed: 0)
try trainer.run(try DataLoader(dataset: train, batchSize: 4, sampler: sampler), maxEpochs: epochs)

if world.rank == 0 {
    // Sampling: softmax(logits / temperature) at the last position, drawn from a seeded counter-based generator.
    var generator = CounterRandom(seed: 42, stream: 7)
    var tokens = Array("to be".utf8).map(Int.init)
    for _ in 0..<40 {
        let window = Array(tokens.suffix(context))
        let logits = try model(Tensor(shape: [1, window.count], values: window.map(Float.init)).padded(to: context))
        let row = Array(logits.values[((window.count - 1) * 256)..<(window.count * 256)])
        let top = row.max()!
        let weights = row.map { Foundation.exp(Double($0 - top) / 0.3) }
        var pick = Double(generator.nextUniform()) * weights.reduce(0, +)
        var next = 0
        while next < 255 && pick >= weights[next] {
            pick -= weights[next]
            next += 1
        }
        tokens.append(next)
    }
    print("ranks \(world.size) sample: " + String(decoding: tokens.map(UInt8.init), as: UTF8.self))
}
(world as? MPICommunicator)?.finalize()

extension Tensor {
    /// A [1, n] window of token ids padded with zeros to [1, length] (a causal model's later positions never
    /// affect the earlier ones, so padding after the window changes nothing the sampler reads).
    func padded(to length: Int) -> Tensor {
        Tensor(shape: [1, length], values: values + [Float](repeating: 0, count: length - values.count))
    }
}
