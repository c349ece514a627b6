import _Differentiation

/// A model written as differentiable Swift: a struct of `DTensor` parameters (and of layers holding them) whose
/// `callAsFunction` the compiler differentiates.
///
/// ```swift
/// struct ResidualMLP: DifferentiableModel {
///     var input: Dense, block: Dense, head: Dense
///     @differentiable(reverse)
///     func callAsFunction(_ x: DTensor) -> DTensor {
///         let h = relu(input(x))
///         return head(h + relu(block(h)))
///     }
/// }
/// ```
public protocol DifferentiableModel: Differentiable {
    /// The output for a batch.
    @differentiable(reverse)
    func callAsFunction(_ x: DTensor) -> DTensor
}
