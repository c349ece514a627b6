import NeuralNet

/// Where a model parameter's values live once its model is bound to an arena; nil before.
public final class ParameterSlot {
    var arena: ParameterArena?
    var entry: ParameterEntry?
    /// While `AutodiffModel.backward` runs: the pullbacks add this parameter's gradient straight into the arena's
    /// gradient buffer (and hand back a zero tangent), so no tangent needs walking afterwards.
    var deliversToArena = false
    /// Set when a gradient reached the arena during the current backward pass (checked on the first step).
    var received = false
    init() {}
}

extension DTensor {
    /// `gradient` for this tensor: added into the arena for a parameter whose model is running backward (the
    /// zero tangent is returned then), else returned as it is.
    func deliver(_ gradient: DTensor) -> DTensor {
        guard let slot, slot.deliversToArena, let arena = slot.arena, let entry = slot.entry else { return gradient }
        guard !gradient.isZeroTangent else { return .zero }
        ensure(gradient.count == entry.count, "gradient of \(gradient.shape) for parameter '\(entry.name)' \(entry.shape)")
        gradient.withValues { values in
            arena.withUnsafeMutableBuffers { _, gradients in
                Kernels.add(values.baseAddress!, to: gradients.baseAddress! + entry.offset, count: entry.count)
            }
        }
        slot.received = true
        return .zero
    }

    /// The bound parameter's gradient view in the arena while its model runs backward; nil otherwise. A pullback
    /// that writes there itself marks the gradient received.
    var arenaGradientDestination: (ParameterArena, ParameterEntry)? {
        guard let slot, slot.deliversToArena, let arena = slot.arena, let entry = slot.entry else { return nil }
        slot.received = true
        return (arena, entry)
    }
}
