extension Tensor {
    /// A copy of the rows in `range` (first dimension), the other dimensions unchanged: one micro-batch of a batch.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of a tensor of \(rows)")
        let width = rows == 0 ? 0 : count / rows
        return Tensor(shape: [range.count] + shape.dropFirst(), values: Array(values[range.lowerBound * width..<range.upperBound * width]))
    }

    /// The rows of `parts` one after another (all of the same row shape): micro-batches joined into a batch.
    public init(concatenatingRows parts: [Tensor]) {
        precondition(!parts.isEmpty, "nothing to concatenate")
        let rowShape = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == rowShape }, "tensors of different row shapes")
        guard parts.count > 1 else {
            self = parts[0]
            return
        }
        var values: [Float] = []
        values.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { values += part.values }
        self.init(shape: [parts.reduce(0) { $0 + $1.rows }] + rowShape, values: values)
    }
}
