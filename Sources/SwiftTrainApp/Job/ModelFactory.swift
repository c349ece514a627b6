import Autodiff
import NeuralNet
import Training

/// Builds the network and optimizer a configuration describes.
public enum ModelFactory {
    /// The model for samples of `sampleShape` and `classes` outputs, initialised from `seed`.
    public static func makeModel(
        _ specification: ModelSpecification, sampleShape: [Int], classes: Int,
        seed: UInt64
    ) throws -> any Model {
        let features = sampleShape.reduce(1, *)
        var random = CounterRandom(seed: seed, stream: CounterRandom.streamKey(purpose: "language-model"))
        switch specification {
        case .recurrent(let cell, let hidden, let layers):
            return try AutodiffRecurrentModel(
                RecurrentLanguageModel(
                    vocabulary: classes, embeddingWidth: 64, hidden: hidden, layers: layers,
                    cell: cell, random: &random), outputShape: [classes])
        case .gpt(let layers, let width, let heads):
            return try AutodiffModel(
                GPT(vocabulary: classes, context: features, width: width, heads: heads, layers: layers, random: &random),
                inputShape: [features], outputShape: [features, classes])
        case .residualMLP(let width, let blocks):
            return try AutodiffModel(
                ResidualMLP(inputs: features, width: width, blocks: blocks, outputs: classes, seed: seed),
                inputShape: [features], outputShape: [classes])
        case .multilayerPerceptron(let hidden):
            return try Sequential.multilayerPerceptron(inputs: features, hidden: hidden, outputs: classes, seed: seed)
        case .convolutional:
            guard sampleShape.count == 3 else {
                throw ConfigurationError.invalid(
                    option: "--model", value: "cnn",
                    expected: "image data (channels x height x width); this data has \(features) flat features, use mlp")
            }
            return try Sequential.smallConvolutional(
                channels: sampleShape[0], height: sampleShape[1],
                width: sampleShape[2], outputs: classes, seed: seed)
        }
    }

    /// The prepare-batch step for `model`: image samples are flattened for a multilayer perceptron.
    static func batchPreparation(for model: any Model) -> (SupervisedBatch) throws -> (inputs: Tensor, targets: Tensor) {
        let shape = model.inputShape
        return { batch in
            guard Array(batch.inputs.shape.dropFirst()) != shape else { return (batch.inputs, batch.targets) }
            guard batch.inputs.count == batch.count * shape.reduce(1, *) else {
                throw ModelError.badInput(expected: shape, found: batch.inputs.shape)
            }
            return (batch.inputs.reshaped([batch.count] + shape), batch.targets)
        }
    }

    /// The optimizer the configuration names, over `model`'s arena.
    public static func makeOptimizer(_ configuration: TrainingConfiguration, model: any Model) -> any Optimizer {
        switch configuration.optimizer {
        case .sgd:
            SGD(
                arena: model.arena, learningRate: configuration.learningRate, momentum: configuration.momentum,
                weightDecay: configuration.weightDecay)
        case .adam:
            Adam(arena: model.arena, learningRate: configuration.learningRate, weightDecay: configuration.weightDecay)
        case .adamw:
            AdamW(
                arena: model.arena, learningRate: configuration.learningRate,
                weightDecay: configuration.weightDecay == 0 ? 0.01 : configuration.weightDecay)
        }
    }
}
