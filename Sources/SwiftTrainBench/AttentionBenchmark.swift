import Autodiff
import Foundation
import NeuralNet
import _Differentiation

/// B11: one causal multi-head self-attention layer (batch 32, time 128, width 128, 4 heads), forward and backward of
/// sum(output²), tokens/s at 1 and 2 BLAS threads, beside PyTorch's `torch_sequence.py --model attention` run in
/// the same session (where `SWIFT_TRAIN_TORCH_PYTHON` names a Python that imports torch; said when not).
func runAttentionBenchmark(_ runner: BenchmarkRunner) throws {
    let (batch, time, width, heads) = (32, 128, 128, 4)
    var random = CounterRandom(seed: 0, stream: 1)
    let model = try AutodiffModel(
        AttentionLayer(attention: MultiHeadAttention(width: width, heads: heads, causal: true, random: &random)),
        inputShape: [time, width], outputShape: [time, width])
    let x = Tensor(shape: [batch, time, width], values: (0..<(batch * time * width)).map { _ in random.nextUniform() * 2 - 1 })
    let steps = Int(ProcessInfo.processInfo.environment["BENCH_ATTENTION_STEPS"] ?? "") ?? 30
    for threads in [1, 2] {
        BLAS.threadCount = threads
        var ours: [Double] = []
        var torch: [Double] = []
        for _ in 0..<runner.repeats {
            ours.append(try timeAttention(model, x, steps: steps, tokens: batch * time))
            if let figure = try torchFigure(runner, model: "attention", threads: threads, steps: steps) { torch.append(figure) }
        }
        let mine = median(ours)
        if torch.isEmpty {
            report(
                "attention",
                [
                    "threads": "\(threads)", "tokens_per_s": format(mine), "torch": "unavailable (set SWIFT_TRAIN_TORCH_PYTHON)",
                    "repeats": "\(runner.repeats)"
                ])
        } else {
            let theirs = median(torch)
            report(
                "attention",
                [
                    "threads": "\(threads)", "tokens_per_s": format(mine), "torch_tokens_per_s": format(theirs),
                    "ratio_to_torch": format(mine / theirs, 2), "target_ratio": "1.0", "repeats": "\(runner.repeats)"
                ])
        }
    }
}

/// The benchmark's model: one attention layer.
struct AttentionLayer: DifferentiableModel {
    var attention: MultiHeadAttention
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor { attention(x) }
}

/// Tokens per second of forward + backward of sum(output²) through `model` (after two warm-up steps), as a
/// trainer runs it: the model's forward, the loss gradient 2·output, the model's backward into its arena.
func timeAttention(_ model: AutodiffModel<AttentionLayer>, _ x: Tensor, steps: Int, tokens: Int) throws -> Double {
    let context = LayerContext(training: true, randomKey: 0)
    func step() throws {
        let y = try model.forward(x, context: context)
        try model.backward(Tensor(shape: y.shape, values: y.values.map { 2 * $0 }), accumulate: false, progress: nil)
    }
    try step()
    try step()
    let start = monotonicSeconds()
    for _ in 0..<steps { try step() }
    return Double(steps * tokens) / (monotonicSeconds() - start)
}

/// PyTorch's tokens/s for `torch_sequence.py --model NAME` at `threads`, or nil when no Python with torch is set.
func torchFigure(_ runner: BenchmarkRunner, model: String, threads: Int, steps: Int) throws -> Double? {
    try torchRun(runner, model: model, threads: threads, steps: steps)?.tokensPerSecond
}

/// PyTorch's tokens/s and final loss (when it prints one) for `torch_sequence.py --model NAME`.
func torchRun(_ runner: BenchmarkRunner, model: String, threads: Int, steps: Int) throws -> (tokensPerSecond: Double, loss: Double?)? {
    let environment = ProcessInfo.processInfo.environment
    guard let python = environment["SWIFT_TRAIN_TORCH_PYTHON"], let shared = environment["SWIFT_TRAIN_SHARED"] else { return nil }
    let text = try runner.output(
        of: [
            python, shared + "/baselines/torch_sequence.py", "--model", model, "--threads", "\(threads)",
            "--steps", "\(steps)"
        ], ranks: 1, threads: threads)
    return (try runner.field("tokens_per_s", in: text), try? runner.field("loss", in: text))
}
