import Foundation

/// Adam (Kingma & Ba) with PyTorch's semantics; `decoupledWeightDecay` makes it AdamW.
public class Adam: Optimizer {
    public var learningRate: Double
    /// Exponential decay rates of the first and second moments; schedulers may change them between steps.
    public var beta1: Double, beta2: Double
    /// Added to the denominator for stability.
    public let epsilon: Double
    /// Weight decay: L2 in the gradient (Adam) or decoupled (AdamW); schedulers may change it between steps.
    public var weightDecay: Double
    let decoupled: Bool
    private let arena: ParameterArena
    private let firstMoment: StateBuffer
    private let secondMoment: StateBuffer
    private var steps = 0

    /// An Adam optimizer over `arena`.
    public convenience init(
        arena: ParameterArena, learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
        epsilon: Double = 1e-8, weightDecay: Double = 0
    ) {
        self.init(
            arena: arena, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
            weightDecay: weightDecay, decoupled: false)
    }

    init(
        arena: ParameterArena, learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
        weightDecay: Double, decoupled: Bool
    ) {
        self.arena = arena
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        firstMoment = StateBuffer(name: "exp_avg", count: arena.count)
        secondMoment = StateBuffer(name: "exp_avg_sq", count: arena.count)
    }

    public func step() {
        steps += 1
        let p = arena.parameters.baseAddress!
        let g = UnsafePointer(arena.gradients.baseAddress!)
        let m = firstMoment.values.baseAddress!
        let v = secondMoment.values.baseAddress!
        let b1 = Float(beta1)
        let b2 = Float(beta2)
        let count = arena.count
        let correction1 = 1 - pow(beta1, Double(steps))
        let correction2 = 1 - pow(beta2, Double(steps))
        let stepSize = Float(learningRate / correction1)
        let rootCorrection2 = Float(correction2.squareRoot())
        let eps = Float(epsilon)
        let decay = Float(weightDecay)
        let shrink = Float(1 - learningRate * weightDecay)
        Kernels.adam(
            p, g, m, v, count: count, beta1: b1, beta2: b2, stepSize: stepSize, rootCorrection2: rootCorrection2,
            epsilon: eps, l2: decoupled ? 0 : decay, shrink: shrink, decoupled: decoupled)
    }

    public func stateTensors() -> [(name: String, shape: [Int], values: [Float])] {
        [firstMoment.tensor, secondMoment.tensor]
    }

    public func stateScalars() -> [String: Double] { ["steps": Double(steps)] }

    public func loadState(tensors: [(name: String, shape: [Int], values: [Float])], scalars: [String: Double]) throws {
        try firstMoment.load(from: tensors)
        try secondMoment.load(from: tensors)
        steps = try requiredCount(scalars, "steps")
    }
}

/// AdamW: Adam with decoupled weight decay (`p ← p·(1 − lr·wd)` before the Adam update), PyTorch's semantics.
public final class AdamW: Adam {
    /// An AdamW optimizer over `arena` (PyTorch's default weight decay 0.01).
    public convenience init(
        arena: ParameterArena, learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
        epsilon: Double = 1e-8, weightDecay: Double = 0.01
    ) {
        self.init(
            arena: arena, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
            weightDecay: weightDecay, decoupled: true)
    }
}
