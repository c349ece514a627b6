import NeuralNet
import _Differentiation

/// Zeroes each value with probability `probability` while training (scaling the rest by 1/(1-p)); the identity
/// otherwise. Masks are a pure function of the step's random key and the dropout site, as the built-in layer's;
/// any rank of tensor.
@differentiable(reverse,wrt: x)
public func dropout(_ x: DTensor, probability: Float) -> DTensor {
    applyMask(x, dropoutMask(count: x.count, probability: probability))
}

/// The derivative of `dropout`: its value and pullback, registered for `_Differentiation`.
@derivative(of: dropout, wrt: x)
public func vjpDropout(_ x: DTensor, probability: Float) -> (value: DTensor, pullback: (DTensor) -> DTensor) {
    let mask = dropoutMask(count: x.count, probability: probability)
    return (applyMask(x, mask), { g in x.deliver(g.isZeroTangent ? g : applyMask(g, mask)) })
}

func applyMask(_ x: DTensor, _ mask: [Float]?) -> DTensor {
    guard let mask else { return x.detached }
    return x.withValues { values in DTensor(shape: x.shape, values: (0..<values.count).map { values[$0] * mask[$0] }) }
}

func dropoutMask(count: Int, probability: Float) -> [Float]? {
    ensure(probability >= 0 && probability < 1, "dropout: probability \(probability) outside [0, 1)")
    let context = AutodiffContext.current
    guard context.training, probability > 0 else { return nil }
    let random = CounterRandom(seed: context.randomKey, stream: AutodiffContext.nextDraw())
    let scale = 1 / (1 - probability)
    return (0..<count).map { Float(random.value(at: UInt64($0)) >> 40) * 0x1p-24 >= probability ? scale : 0 }
}
