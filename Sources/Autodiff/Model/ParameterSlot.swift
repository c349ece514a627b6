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
    /// The pass writes over the arena's gradient (not accumulating): the first gradient to arrive is stored, later
    /// ones added; a parameter that received none is zeroed at the end.
    var overwrites = false
    init() {}
}

extension DTensor {
    /// `gradient` for this tensor: added into the arena for a parameter whose model is running backward (the
    /// zero tangent is returned then), else returned as it is.
    func deliver(_ gradient: DTensor) -> DTensor {
        guard let slot, slot.deliversToArena, let arena = slot.arena, let entry = slot.entry else { return gradient }
        guard !gradient.isZeroTangent else { return .zero }
        ensure(gradient.count == entry.count, "gradient of \(gradient.shape) for parameter '\(entry.name)' \(entry.shape)")
        let overwrite = slot.overwrites && !slot.received
        gradient.withValues { values in
            arena.withUnsafeMutableBuffers { _, gradients in
                if overwrite {
                    (gradients.baseAddress! + entry.offset).update(from: values.baseAddress!, count: entry.count)
                } else {
                    Kernels.add(values.baseAddress!, to: gradients.baseAddress! + entry.offset, count: entry.count)
                }
            }
        }
        slot.received = true
        return .zero
    }

    /// The bound parameter's gradient view in the arena while its model runs backward, and whether the pullback
    /// stores its gradient there (the first of the pass) rather than adds it; nil otherwise. Asking marks it received.
    var arenaGradientDestination: (arena: ParameterArena, entry: ParameterEntry, overwrite: Bool)? {
        guard let slot, slot.deliversToArena, let arena = slot.arena, let entry = slot.entry else { return nil }
        let overwrite = slot.overwrites && !slot.received
        slot.received = true
        return (arena, entry, overwrite)
    }
}
