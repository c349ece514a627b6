/// Saving and restoring the engine's progress, as Ignite's `state_dict()` / `load_state_dict()`.
extension Engine: Stateful {
    /// `epoch_length`, `iteration`, exactly one of `max_epochs` / `max_iters`, and the user keys listed
    /// in `stateDictUserKeys` (Int, Double, String, Bool, UInt64 or StateValue values of user storage).
    public func stateDict() -> StateDict {
        // Within an iteration of a process function that saves its own progress, the iteration is not done yet.
        let done = resumesWithinIteration && cursor.isInsideIteration ? state.iteration - 1 : state.iteration
        var dict: StateDict = [
            "iteration": .int(done),
            "epoch_length": state.epochLength.map(StateValue.int) ?? .null
        ]
        if let maxIterations = state.maxIterations {
            dict["max_iters"] = .int(maxIterations)
        } else {
            // nil before the first run, as Ignite's state_dict() of a fresh engine.
            dict["max_epochs"] = state.maxEpochs.map(StateValue.int) ?? .null
        }
        for key in stateDictUserKeys {
            dict[key] = StateValue(storedValue: state.storage[key])
        }
        return dict
    }

    /// The largest iteration count or epoch length a state dict may hold (2^53: no run reaches it, and counting on
    /// from it cannot overflow).
    public static var largestCount: Int { 1 << 53 }

    /// Restores counters and limits; a later `run` resumes at the saved iteration (mid-epoch included).
    /// - Throws: `StateDictError` for missing keys, both `iteration` and `epoch`, both limits, or a limit
    ///   below the saved progress.
    public func loadStateDict(_ dict: StateDict) throws {
        guard dict["epoch_length"] != nil else { throw StateDictError.missingKey("epoch_length") }
        let epochLength = try dict.optionalInt("epoch_length")
        if let epochLength, epochLength < 1 || epochLength > Self.largestCount {
            throw StateDictError.invalidValue(key: "epoch_length", reason: "must be from 1 to 2^53, got \(epochLength)")
        }
        let hasIteration = dict["iteration"] != nil
        let hasEpoch = dict["epoch"] != nil
        if hasIteration == hasEpoch {
            throw hasIteration
                ? StateDictError.invalidValue(key: "iteration", reason: "give iteration or epoch, not both")
                : StateDictError.missingKey("iteration")
        }
        let hasMaxEpochs = dict["max_epochs"] != nil
        let hasMaxIterations = dict["max_iters"] != nil
        if hasMaxEpochs == hasMaxIterations {
            throw hasMaxEpochs
                ? StateDictError.invalidValue(key: "max_epochs", reason: "give max_epochs or max_iters, not both")
                : StateDictError.missingKey("max_epochs")
        }
        for key in stateDictUserKeys where dict[key] == nil { throw StateDictError.missingKey(key) }

        var iteration: Int
        var epoch: Int
        if hasIteration {
            iteration = try dict.int("iteration")
            guard iteration >= 0 else { throw StateDictError.invalidValue(key: "iteration", reason: "negative") }
            guard iteration <= Self.largestCount else {
                throw StateDictError.invalidValue(key: "iteration", reason: "\(iteration) is beyond 2^53, a count no run reaches")
            }
            epoch = epochLength.map { $0 > 0 ? iteration / $0 : 0 } ?? 0
        } else {
            epoch = try dict.int("epoch")
            guard let epochLength else {
                throw StateDictError.invalidValue(key: "epoch_length", reason: "needed to derive iteration from epoch")
            }
            let (product, overflow) = epoch.multipliedReportingOverflow(by: epochLength)
            guard epoch >= 0, !overflow, product <= Self.largestCount else {
                throw StateDictError.invalidValue(key: "epoch", reason: "\(epoch) epochs of \(epochLength) iterations is out of range")
            }
            iteration = product
        }
        let maxEpochs = hasMaxEpochs ? try dict.optionalInt("max_epochs") : nil
        let maxIterations = hasMaxIterations ? try dict.int("max_iters") : nil
        if let maxEpochs, maxEpochs < 1 {
            throw StateDictError.invalidValue(key: "max_epochs", reason: "must be at least 1, got \(maxEpochs)")
        }
        if let maxIterations, maxIterations < 1 {
            throw StateDictError.invalidValue(key: "max_iters", reason: "must be at least 1, got \(maxIterations)")
        }
        if let maxEpochs, maxEpochs < epoch {
            throw StateDictError.invalidValue(key: "max_epochs", reason: "\(maxEpochs) is below the saved epoch \(epoch)")
        }
        if let maxIterations, maxIterations < iteration {
            throw StateDictError.invalidValue(
                key: "max_iters", reason: "\(maxIterations) is below the saved iteration \(iteration)")
        }
        if !isRunning {
            // A loaded state starts the next run afresh from it (a handler loading one mid-run leaves the loop's place).
            cursor = RunCursor()
            suspendedSource = nil
        }
        state.epochLength = epochLength
        state.iteration = iteration
        repositionsOnNextRun = true
        state.epoch = epoch
        state.maxEpochs = maxEpochs
        state.maxIterations = maxIterations
        for key in stateDictUserKeys {
            state.storage[key] = dict[key]!.restoring(like: state.storage[key])
        }
    }
}

extension StateValue {
    /// The state-dict form of a user-storage value (null for types a state dict cannot hold).
    init(storedValue: Any?) {
        switch storedValue {
        case let value as StateValue: self = value
        case let value as Int: self = .int(value)
        case let value as UInt64: self = .uint64(value)
        case let value as Double: self = .double(value)
        case let value as Float: self = .double(Double(value))
        case let value as Bool: self = .bool(value)
        case let value as String: self = .string(value)
        default: self = .null
        }
    }

    /// This value converted back to the Swift type of `existing` where it is a plain scalar.
    func restoring(like existing: Any?) -> Any {
        switch (self, existing) {
        case (.int(let value), is UInt64): UInt64(bitPattern: Int64(value))
        case (.int(let value), is Double): Double(value)
        case (.double(let value), is Float): Float(value)
        case (.int(let value), _): value
        case (.double(let value), _): value
        case (.bool(let value), _): value
        case (.string(let value), _): value
        default: self
        }
    }
}
