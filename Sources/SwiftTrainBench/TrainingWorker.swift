import Autodiff
import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training
import _Differentiation

/// One measured training run of B2 (digits) or B3 (MNIST-sized random data), as a rank of an mpirun job or
/// alone: the whole loop (engine, sampler, loader, all-reduce handler, a loss metric), start-up excluded.
/// Rank 0 prints `result samples_per_s=S test_accuracy=A steps=K`.
func runTrainingWorker(kind: String, arguments: [String]) throws {
    func value(_ name: String, _ fallback: Int) -> Int {
        arguments.firstIndex(of: name).flatMap { arguments.indices.contains($0 + 1) ? Int(arguments[$0 + 1]) : nil } ?? fallback
    }
    let communicator: any Communicator = MPICommunicator.isLaunchedByMPI ? try MPICommunicator.initialize() : LocalCommunicator()
    BLAS.threadCount = value("--threads", 1)
    // `--micro-batches N`: the trainer's micro-batch count (0 or absent: the automatic policy).
    let microBatching = value("--micro-batches", 0) > 0 ? MicroBatching.count(value("--micro-batches", 0)) : .automatic
    let overlap = arguments.contains("--overlap")
    let train: Dataset
    let test: Dataset?
    let hidden: [Int]
    let batch: Int
    let epochs: Int
    if kind == "digits" {
        let shared = ProcessInfo.processInfo.environment["SWIFT_TRAIN_SHARED"] ?? "../shared"
        var all = try CSVDataset.load(path: shared + "/data/digits.csv", labelColumn: .named("label"))
        all.features = all.features.map { $0 / 16 }
        let trainCount = all.count * 8 / 10
        train = all.subset(Array(0..<trainCount))
        test = all.subset(Array(trainCount..<all.count))
        (hidden, batch, epochs) = ([128, 128], value("--batch", 32), value("--epochs", 10))
    } else {
        var random = CounterRandom(seed: 1, stream: 1)
        let count = value("--samples", 60_000)
        let features = (0..<(count * 784)).map { _ in random.nextUniform() }
        let labels = (0..<count).map { _ in Int32(random.nextInt(below: 10)) }
        train = Dataset(features: features, featureCount: 784, labels: labels, classNames: (0..<10).map(String.init))
        test = nil
        (hidden, batch, epochs) = ([512, 512], value("--batch", 64), 1)
    }
    let model: any Model
    if arguments.contains("--differentiable") {
        // The MLP as a user writes a fixed network (three named layers), or with `--array-layers` as a loop over an
        // array of layers (the differentiation of the array costs more).
        model =
            arguments.contains("--array-layers")
            ? try AutodiffModel(
                DifferentiableMLP(inputs: train.featureCount, hidden: hidden, outputs: 10),
                inputShape: [train.featureCount], outputShape: [10])
            : try AutodiffModel(
                ThreeLayerMLP(inputs: train.featureCount, hidden: hidden, outputs: 10),
                inputShape: [train.featureCount], outputShape: [10])
    } else {
        model = try Sequential.multilayerPerceptron(inputs: train.featureCount, hidden: hidden, outputs: 10, seed: 0)
    }
    let optimizer = SGD(arena: model.arena, learningRate: 0.05, momentum: 0.9)
    // B8: `--virtual-shards K` splits each rank's batch of the default mode into K / world micro-batches (the same
    // global batch), summed in the shards' tree; `--pairwise gather` picks the gather-then-sum exchange.
    let shardCount = value("--virtual-shards", 0)
    if let index = arguments.firstIndex(of: "--pairwise"), arguments.indices.contains(index + 1), arguments[index + 1] == "gather",
        let mpi = communicator as? MPICommunicator
    {
        mpi.pairwiseAlgorithm = .gatherThenSum
    }
    let shards = shardCount > 0 ? try VirtualShards(count: shardCount, worldSize: communicator.size, rank: communicator.rank) : nil
    let microBatch = shards.map { max(1, batch * communicator.size / $0.count) } ?? batch
    let trainer =
        shards.map {
            makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), virtualShards: $0)
        } ?? makeSupervisedTrainer(model: model, optimizer: optimizer, loss: SoftmaxCrossEntropy(), microBatching: microBatching)
    try DataParallel(communicator: communicator, overlap: overlap).attach(to: trainer, arena: model.arena, optimizer: optimizer)
    if shards != nil {
        let ranks = communicator.size
        try Loss().attach(to: trainer, name: "train_loss") { (Double($0.loss), $0.count * ranks) }
    } else {
        try Loss(communicator: communicator).attach(to: trainer, name: "train_loss") { (Double($0.loss), $0.count) }
    }
    let recorder = try profileRecorder(arguments, trainer: trainer, communicator: communicator)
    var start = 0.0
    var end = 0.0
    try trainer.on(.started) { _ in
        try communicator.barrier()
        start = monotonicSeconds()
    }
    try trainer.on(.completed) { _ in end = monotonicSeconds() }
    let loader =
        try shards.map { try DataLoader(dataset: train, microBatchSize: microBatch, shards: $0, seed: 0) }
        ?? DataLoader(
            dataset: train, batchSize: batch,
            sampler: DistributedSampler(count: train.count, worldSize: communicator.size, rank: communicator.rank, seed: 0))
    try trainer.run(loader, maxEpochs: epochs)
    let samples = Double(trainer.state.iteration * batch * communicator.size)
    var accuracy = Double.nan
    if let test {
        let evaluator = makeSupervisedEvaluator(model: model)
        try Accuracy(communicator: communicator).attach(to: evaluator, name: "accuracy", usage: .runWise) {
            ClassificationBatch(predictions: $0.predictions, targets: $0.targets)
        }
        try evaluator.run(
            try DataLoader(
                dataset: test, batchSize: 256,
                sampler: DistributedSampler(
                    count: test.count, worldSize: communicator.size,
                    rank: communicator.rank, shuffle: false, tail: .uneven)))
        accuracy = evaluator.state.metrics["accuracy"] ?? .nan
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    if communicator.rank == 0 {
        print(
            "result peak_rss_kb=\(usage.ru_maxrss) samples_per_s=\(format(samples / (end - start))) test_accuracy=\(format(accuracy, 4)) "
                + "steps=\(trainer.state.iteration) parameters=\(model.parameterCount)")
    }
    printProfile(recorder, communicator: communicator)
    (communicator as? MPICommunicator)?.finalize()
}

/// With `--profile FILE`, a trace recorder on 20 steps after 5 of warm-up, writing every rank's spans to FILE.
func profileRecorder<Batch, Output>(_ arguments: [String], trainer: Engine<Batch, Output>, communicator: any Communicator)
    throws -> TraceRecorder?
{
    guard let index = arguments.firstIndex(of: "--profile"), arguments.indices.contains(index + 1) else { return nil }
    let recorder = try TraceRecorder(steps: 20, skip: 5)
    try recorder.attach(to: trainer, communicator: communicator, writingTo: arguments[index + 1])
    return recorder
}

/// Rank 0's `profile steps=... matmul=... ...` line.
func printProfile(_ recorder: TraceRecorder?, communicator: any Communicator) {
    guard let recorder, communicator.rank == 0 else { return }
    guard let breakdown = recorder.breakdown else { return print("profile none") }
    print("profile " + breakdown.fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
}

/// B7: the B2 and B3 MLPs written as differentiable Swift (the compiler derives backward).
/// B2's and B3's MLP with its three layers named, as a fixed network is written.
struct ThreeLayerMLP: DifferentiableModel {
    var input: Dense, hidden: Dense, head: Dense

    init(inputs: Int, hidden widths: [Int], outputs: Int) {
        precondition(widths.count == 2, "ThreeLayerMLP has two hidden layers")
        var random = CounterRandom(seed: 0, stream: 77)
        input = Dense(inputs: inputs, outputs: widths[0], random: &random)
        hidden = Dense(inputs: widths[0], outputs: widths[1], random: &random)
        head = Dense(inputs: widths[1], outputs: outputs, random: &random)
    }

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { head(relu(hidden(relu(input(x))))) }
}

struct DifferentiableMLP: DifferentiableModel {
    var layers: [Dense]

    init(inputs: Int, hidden: [Int], outputs: Int) {
        var random = CounterRandom(seed: 0, stream: 77)
        let widths = [inputs] + hidden + [outputs]
        layers = (1..<widths.count).map { Dense(inputs: widths[$0 - 1], outputs: widths[$0], random: &random) }
    }

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        var h = x
        for index in withoutDerivative(at: layers.indices) {
            h = layers[index](h)
            if index < withoutDerivative(at: layers.count) - 1 { h = relu(h) }
        }
        return h
    }
}
