/// Stochastic gradient descent with PyTorch's semantics: optional momentum (the first step's buffer is the
/// gradient itself), Nesterov momentum and L2 weight decay.
public final class SGD: Optimizer {
    public var learningRate: Double
    /// Momentum factor (0: plain SGD).
    public let momentum: Float
    /// Whether the update uses Nesterov momentum.
    public let nesterov: Bool
    /// L2 penalty added to the gradient.
    public let weightDecay: Float
    private let arena: ParameterArena
    private let velocity: StateBuffer
    private var steps = 0

    /// An SGD optimizer over `arena`.
    public init(arena: ParameterArena, learningRate: Double, momentum: Double = 0, nesterov: Bool = false,
                weightDecay: Double = 0) {
        self.arena = arena
        self.learningRate = learningRate
        self.momentum = Float(momentum)
        self.nesterov = nesterov
        self.weightDecay = Float(weightDecay)
        velocity = StateBuffer(name: "momentum_buffer", count: arena.count)
    }

    public func step() {
        let p = arena.parameters.baseAddress!, g = arena.gradients.baseAddress!, v = velocity.values.baseAddress!
        let rate = Float(learningRate), mu = momentum, decay = weightDecay, count = arena.count
        if mu == 0 {
            for i in 0..<count { p[i] -= rate * (g[i] + decay * p[i]) }
        } else if steps == 0 {
            for i in 0..<count {
                let d = g[i] + decay * p[i]
                v[i] = d
                p[i] -= rate * (nesterov ? d + mu * d : d)
            }
        } else if nesterov {
            for i in 0..<count {
                let d = g[i] + decay * p[i]
                v[i] = mu * v[i] + d
                p[i] -= rate * (d + mu * v[i])
            }
        } else {
            for i in 0..<count {
                v[i] = mu * v[i] + g[i] + decay * p[i]
                p[i] -= rate * v[i]
            }
        }
        steps += 1
    }

    public func stateTensors() -> [(name: String, shape: [Int], values: [Float])] { [velocity.tensor] }
    public func stateScalars() -> [String: Double] { ["steps": Double(steps)] }

    public func loadState(tensors: [(name: String, shape: [Int], values: [Float])], scalars: [String: Double]) throws {
        try velocity.load(from: tensors)
        steps = Int(try requiredScalar(scalars, "steps"))
    }
}
