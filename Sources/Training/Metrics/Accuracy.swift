import Cluster

/// The fraction of correctly classified samples (multiclass: the highest score is the prediction).
public final class Accuracy: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?

    /// An accuracy, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ batch: ClassificationBatch) {
        var correct = 0
        for row in 0..<batch.valid where batch.predictedClass(row) == Int(batch.labels[row]) { correct += 1 }
        sums[0] += Double(correct)
        sums[1] += Double(batch.valid)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "Accuracy")
    }
}

/// The mean loss over samples: the sum of (batch mean x batch size) over the number of samples.
public final class Loss: Metric {
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?

    /// A loss average, reduced over `communicator`'s ranks when given.
    public init(communicator: (any Communicator)? = nil) { self.communicator = communicator }

    public func update(_ input: (loss: Double, count: Int)) {
        sums[0] += input.loss * Double(input.count)
        sums[1] += Double(input.count)
    }

    public func value(from sums: [Double]) throws -> Double {
        try mean(of: sums, "Loss")
    }
}
