/// A kernel layer that runs a batch of consecutive virtual shards in one pass with the bits of one pass per shard:
/// each row's output and input gradient as if its shard ran alone, and its parameter gradients summed over the shards
/// in their fixed binary tree. `Sequential` runs a rank's shards in one pass when every layer is one.
public protocol ShardwiseKernelLayer: KernelLayer {
    /// The training output of `shards` shards of `rowsPerShard` rows; `shardKeys[s]` keys shard `s`'s random draws
    /// (the key a pass of its own would give this layer).
    func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, shards: Int, rowsPerShard: Int,
        shardKeys: [UInt64])
    /// Writes the shards' tree sum of the parameter gradients, and each row's input gradient when asked.
    func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, shards: Int, rowsPerShard: Int)
}

/// A kernel layer without parameters whose ordinary pass computes each value of a row from that row alone, the same
/// bits in any batch, with no random draws (ReLU, Flatten): its shardwise pass is its ordinary pass over all the rows.
/// Declare it for a layer of your own that is so, and `Sequential` runs virtual shards through it in one pass (a layer
/// with parameters that declares it is run shard by shard: its gradients would not be the shards' tree).
public protocol RowwiseKernelLayer: ShardwiseKernelLayer {}

extension RowwiseKernelLayer {
    /// The ordinary training pass over every row at once.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, shards: Int, rowsPerShard: Int,
        shardKeys: [UInt64]
    ) {
        forward(input, output, batch: shards * rowsPerShard, training: true, randomKey: 0)
    }

    /// The ordinary backward pass over every row at once (the layer has no parameters to sum).
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, shards: Int, rowsPerShard: Int
    ) {
        backward(
            input: input, output: output, outputGradient: outputGradient, inputGradient: inputGradient,
            batch: shards * rowsPerShard, accumulate: false)
    }
}

/// max(0, x) of each value: the same bits in any batch.
extension ReLU: RowwiseKernelLayer {}

/// A copy: the same bits in any batch.
extension Flatten: RowwiseKernelLayer {}

extension Linear: ShardwiseKernelLayer {
    /// `x Wᵀ + b`, each row summed over the inputs in order, whatever the other rows.
    public func forward(
        _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, shards: Int, rowsPerShard: Int,
        shardKeys: [UInt64]
    ) {
        ShardKernels.rowwiseProduct(
            input, rows: shards * rowsPerShard, inner: inputs, UnsafePointer(weightValues), transposed: true,
            bias: UnsafePointer(biasValues), output, columns: outputs)
    }

    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, shards: Int, rowsPerShard: Int
    ) {
        ShardKernels.shardTreeGradients(
            outputGradient: outputGradient, input: input, weightGradient: weightGradientValues,
            biasGradient: biasGradientValues, outputs: outputs, inputs: inputs, shards: shards, rowsPerShard: rowsPerShard)
        if let inputGradient {
            ShardKernels.rowwiseProduct(
                outputGradient, rows: shards * rowsPerShard, inner: outputs, UnsafePointer(weightValues), transposed: false,
                bias: nil, inputGradient, columns: inputs)
        }
    }
}
