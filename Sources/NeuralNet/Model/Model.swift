/// A trainable function of a batch whose parameters live in one flat arena (and its gradients in a second
/// buffer of the same layout): what the supervised factories, optimizers, checkpoints and data parallelism
/// work with. `Sequential` is one; write your own for any architecture.
///
/// Tensors carry the batch as their first dimension: `forward` takes `[batch] + inputShape` and returns
/// `[batch] + outputShape`; `backward` takes the loss gradient with respect to that output and writes the
/// parameter gradients into `arena`.
public protocol Model: AnyObject {
    /// The parameters and gradients, with their names and shapes.
    var arena: ParameterArena { get }
    /// The shape of one sample's input.
    var inputShape: [Int] { get }
    /// The shape of one sample's output.
    var outputShape: [Int] { get }
    /// The output for a batch, remembering what `backward` needs.
    /// - Throws: `ModelError.badInput` when the batch does not have the model's input shape.
    func forward(_ input: Tensor, context: LayerContext) throws -> Tensor
    /// Back-propagates `outputGradient` through the last forward pass, writing (or, when `accumulate`, adding)
    /// the parameter gradients into the arena. `progress(offset)` may be called whenever every gradient at arena
    /// index >= offset is final, so communication can start early; calling it never is correct too.
    /// - Throws: `ModelError` when there was no forward pass or the gradient's shape is not the output's.
    func backward(_ outputGradient: Tensor, accumulate: Bool, progress: ((Int) -> Void)?) throws
}

extension Model {
    /// Number of parameters.
    public var parameterCount: Int { arena.count }

    /// The output for a batch in evaluation mode (dropout off).
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try forward(input, context: LayerContext(training: false, randomKey: 0))
    }
}

/// A model that can run several micro-batches of one step at the same time, one per compute thread: each replica
/// reads this model's parameters and writes its gradients into an arena of its own
/// (`ParameterArena(sharingParametersOf:)`), so the trainer sums them in a fixed order.
public protocol ReplicableModel: Model {
    /// A model with this one's parameters (read, never written, while it runs), activations and gradients of its own,
    /// and the same kind (a recurrent model's replica carries its own state); nil when this model cannot run
    /// micro-batches concurrently (a forward pass that moves running statistics).
    func makeReplica() throws -> (any Model)?
}

/// A model that runs a rank's virtual shards in one training pass with the bits of one pass per shard: each row's
/// output as if its shard ran alone, and parameter gradients summed over the shards in their fixed binary tree (the
/// order `ShardGradientSum` continues across ranks). Virtual shards then cost what whole batches cost.
public protocol ShardwiseModel: Model {
    /// Whether every part of the model can (a model with a part that cannot runs its shards one by one).
    var runsShardsInOnePass: Bool { get }
    /// The training output of `shards` consecutive shards of equal rows, shard `s`'s random draws keyed by
    /// `shardKeys[s]` (its key in a pass of its own).
    /// - Throws: `ModelError.badInput` for a batch of another shape or not made of `shards` equal shards.
    func forward(_ input: Tensor, shards: Int, shardKeys: [UInt64]) throws -> Tensor
    /// Back-propagates through the last shardwise forward pass, writing the shards' tree sum of the parameter
    /// gradients into the arena (`shards` is a power of two).
    /// - Throws: `ModelError` when there was no shardwise forward pass or the gradient's shape is not the output's.
    func backward(_ outputGradient: Tensor, shards: Int) throws
}

/// A model whose layers can combine batch statistics across data-parallel replicas (synchronized batch norm).
public protocol ReplicaStatisticsModel: Model {
    /// Sums values over every replica, in a fixed order; nil: each replica uses its own batch's statistics.
    var replicaSum: (([Double]) throws -> [Double])? { get set }
}

/// A sequence model that carries a state from one forward pass to the next (an LSTM's hidden and cell states), as
/// truncated backpropagation through time needs: each forward pass starts from `carriedState` and leaves the
/// final state there, detached (no gradient flows back into an earlier chunk).
public protocol RecurrentStateModel: Model {
    /// The state the next forward pass starts from, one tensor per part ([batch, ...] each); empty: zeros.
    var carriedState: [Tensor] { get set }
}

/// A model whose running statistics (batch norm's) can move once per step from every virtual shard's statistics in
/// shard order, instead of at each forward pass: then they are the same bits on every world size and every rank.
public protocol DeferredStatisticsModel: Model {
    /// While true, training forward passes record their batch statistics instead of moving the running ones.
    var defersStatistics: Bool { get set }
    /// The statistics recorded since the last call, one forward pass after another, and forgets them.
    func takeRecordedStatistics() -> [Float]
    /// Moves the running statistics by recorded passes in order (from any rank's `takeRecordedStatistics`).
    /// - Throws: `ModelError.badInput` when the values are not whole passes of this model.
    func applyRecordedStatistics(_ values: [Float]) throws
}

/// A model used with a batch it cannot take, or out of order, or built wrong.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case badInput(expected: [Int], found: [Int])
    case badOutputGradient(expected: [Int], found: [Int])
    case backwardBeforeForward
    /// The model's output does not hold `[batch] + outputShape` values.
    case badOutput(expected: [Int], found: [Int])
    /// A parameter that no gradient reached in the first backward pass (unused, or cut off by a non-differentiable step).
    case parameterWithoutGradient(name: String)
    /// A parameter or buffer reached by two property paths, or already bound to another model.
    case sharedParameter(name: String)

    public var description: String {
        switch self {
        case .badInput(let expected, let found):
            "the model takes batches of shape [batch] + \(expected), got \(found)"
        case .badOutputGradient(let expected, let found):
            "the output gradient has shape \(found), the last output had \(expected)"
        case .backwardBeforeForward: "backward called before any forward pass"
        case .badOutput(let expected, let found):
            "the model returned an output of shape \(found) where \(expected) was declared"
        case .parameterWithoutGradient(let name):
            "parameter '\(name)' received no gradient in the first step: it is unused or its path to the loss is not differentiable"
        case .sharedParameter(let name):
            "parameter '\(name)' is reached by two paths or already belongs to another model: give each layer its own parameters"
        }
    }
}
