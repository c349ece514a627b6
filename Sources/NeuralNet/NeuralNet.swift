// NeuralNet: work in progress.
