import _Differentiation

/// The mean squared difference of two tensors of the same size, as a tensor of shape [1].
@differentiable(reverse)
public func meanSquaredError(_ predictions: DTensor, _ targets: DTensor) -> DTensor {
    let difference = predictions - targets
    return mean(multiply(difference, difference))
}
