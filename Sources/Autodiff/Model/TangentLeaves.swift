import _Differentiation

/// A tangent that lists its `DTensor` leaves itself, in the order reflection visits them: walking a model's tangent
/// at every backward pass then reflects on the structs only, not on every array of layers (the compiler's synthesized
/// `TangentVector`s of the layers cannot be extended).
protocol TangentLeafContainer {
    func appendLeaves(to result: inout [DTensor])
}

extension Array.DifferentiableView: TangentLeafContainer {
    func appendLeaves(to result: inout [DTensor]) {
        for element in base { ParameterBinding.leaves(element, into: &result) }
    }
}
