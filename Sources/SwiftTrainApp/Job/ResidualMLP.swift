import Autodiff
import NeuralNet
import _Differentiation

/// `--model resmlp:WIDTH,BLOCKS`: a residual multilayer perceptron written as differentiable Swift, trained
/// through `AutodiffModel` (the compiler derives its backward pass).
struct ResidualMLP: DifferentiableModel {
    var input: Dense
    var blocks: [Dense]
    var head: Dense

    init(inputs: Int, width: Int, blocks count: Int, outputs: Int, seed: UInt64) {
        var random = CounterRandom(seed: seed, stream: CounterRandom.streamKey(purpose: "init"))
        input = Dense(inputs: inputs, outputs: width, random: &random)
        blocks = (0..<count).map { _ in Dense(inputs: width, outputs: width, random: &random) }
        head = Dense(inputs: width, outputs: outputs, random: &random)
    }

    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor {
        var h = relu(input(x))
        for index in withoutDerivative(at: blocks.indices) {
            h = h + relu(blocks[index](h))
        }
        return head(h)
    }
}
