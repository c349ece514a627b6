/// Stochastic gradient descent with PyTorch's semantics: optional momentum (the first step's buffer is the
/// gradient itself), Nesterov momentum and L2 weight decay.
public final class SGD: Optimizer {
    public var learningRate: Double
    /// Momentum factor (0: plain SGD); schedulers may change it between steps.
    public var momentum: Float
    /// Whether the update uses Nesterov momentum.
    public let nesterov: Bool
    /// L2 penalty added to the gradient; schedulers may change it between steps.
    public var weightDecay: Float
    private let arena: ParameterArena
    private let velocity: StateBuffer
    private var steps = 0

    /// An SGD optimizer over `arena`.
    public init(
        arena: ParameterArena, learningRate: Double, momentum: Double = 0, nesterov: Bool = false,
        weightDecay: Double = 0
    ) {
        self.arena = arena
        self.learningRate = learningRate
        self.momentum = Float(momentum)
        self.nesterov = nesterov
        self.weightDecay = Float(weightDecay)
        velocity = StateBuffer(name: "momentum_buffer", count: arena.count)
    }

    public func step() {
        let p = arena.parameters.baseAddress!
        let g = UnsafePointer(arena.gradients.baseAddress!)
        let rate = Float(learningRate)
        if momentum == 0 {
            Kernels.sgd(p, g, count: arena.count, rate: rate, decay: weightDecay)
        } else {
            Kernels.sgdMomentum(
                p, g, velocity.values.baseAddress!, count: arena.count, rate: rate, momentum: momentum,
                decay: weightDecay, nesterov: nesterov, first: steps == 0)
        }
        steps += 1
    }

    public func stateTensors() -> [(name: String, shape: [Int], values: [Float])] { [velocity.tensor] }
    public func stateScalars() -> [String: Double] { ["steps": Double(steps)] }

    public func loadState(tensors: [(name: String, shape: [Int], values: [Float])], scalars: [String: Double]) throws {
        try velocity.load(from: tensors)
        steps = try requiredCount(scalars, "steps")
    }
}
