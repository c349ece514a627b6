import NeuralNet

extension Tensor {
    /// Every value times `factor`, in place (a loss gradient scaled to a shard's or a rank's share).
    mutating func scale(by factor: Float) {
        guard factor != 1 else { return }
        values.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] *= factor }
        }
    }
}
