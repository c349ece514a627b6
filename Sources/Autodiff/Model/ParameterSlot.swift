import NeuralNet

/// Where a model parameter's values live once its model is bound to an arena; nil before.
public final class ParameterSlot {
    var arena: ParameterArena?
    var entry: ParameterEntry?
    /// The parameter's position among its model's parameters (arena order).
    var index = 0
    init() {}
}

/// Where the pullbacks running on this thread put the gradients of one model's parameters during its backward pass:
/// the arena's gradient buffer, or a replica's. Set in the thread's `AutodiffContext`, so replicas of one model run
/// backward on several threads at once, each into its own buffer.
final class GradientSink {
    /// The arena whose parameters the sink takes gradients for (the model's own, not a replica's).
    let parameters: ParameterArena
    /// The buffer in the arena's layout the gradients go to.
    let gradients: UnsafeMutablePointer<Float>
    /// The pass writes over the buffer (not accumulating): a parameter's first gradient is stored, later ones added.
    let overwrites: Bool
    /// Which parameters received a gradient during the pass, by index.
    var received: [Bool]

    init(parameters: ParameterArena, gradients: UnsafeMutablePointer<Float>, overwrites: Bool) {
        self.parameters = parameters
        self.gradients = gradients
        self.overwrites = overwrites
        received = Array(repeating: false, count: parameters.entries.count)
    }

    /// The destination of `slot`'s gradient and whether to store it rather than add it; marks it received.
    func destination(of slot: ParameterSlot) -> (pointer: UnsafeMutablePointer<Float>, overwrite: Bool)? {
        guard slot.arena === parameters, let entry = slot.entry else { return nil }
        let overwrite = overwrites && !received[slot.index]
        received[slot.index] = true
        return (gradients + entry.offset, overwrite)
    }
}

extension DTensor {
    /// `gradient` for this tensor: added into the running backward pass's gradient buffer for a parameter of the
    /// model running backward on this thread (the zero tangent is returned then), else returned as it is.
    func deliver(_ gradient: DTensor) -> DTensor {
        guard let slot, let sink = AutodiffContext.box?.sink, let entry = slot.entry, slot.arena === sink.parameters else {
            return gradient
        }
        guard !gradient.isZeroTangent else { return .zero }
        ensure(gradient.count == entry.count, "gradient of \(gradient.shape) for parameter '\(entry.name)' \(entry.shape)")
        let (pointer, overwrite) = sink.destination(of: slot)!
        gradient.withValues { values in
            if overwrite {
                pointer.update(from: values.baseAddress!, count: entry.count)
            } else {
                Kernels.add(values.baseAddress!, to: pointer, count: entry.count)
            }
        }
        return .zero
    }

    /// Where the bound parameter's gradient goes while its model runs backward on this thread, and whether the
    /// pullback stores it there (the first of the pass) rather than adds it; nil otherwise. Asking marks it received.
    var gradientDestination: (pointer: UnsafeMutablePointer<Float>, overwrite: Bool)? {
        guard let slot, let sink = AutodiffContext.box?.sink else { return nil }
        return sink.destination(of: slot)
    }
}
