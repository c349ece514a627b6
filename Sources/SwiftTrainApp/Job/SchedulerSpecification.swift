import Foundation
import Training

/// `--scheduler`: how the learning rate moves from `--lr`, as Ignite's schedulers move it, written as
/// `constant`, `step:EPOCHS:GAMMA`, `multistep:E1,E2,...:GAMMA`, `exponential:GAMMA` (per epoch), `cosine` (to 0 over
/// the run), `cosine-restarts:CYCLE[:MULTIPLIER]` (SGDR, cycles of iterations), `cyclic:END:CYCLE` (linear from `--lr`
/// to END and back), `piecewise:ITERATION=RATE,...` (linear between milestones), and a warm-up from 0 in front of any
/// of them: `warmup:ITERATIONS+SCHEDULE` (`warmup:N` alone is followed by the constant rate; `warmup-cosine:N` is
/// `warmup:N+cosine`). The text prints back as it parses, so `--print-config` feeds `--config`.
public indirect enum SchedulerSpecification: Sendable, Equatable, OptionText {
    case constant
    case step(epochs: Int, gamma: Double)
    case multiStep(epochs: [Int], gamma: Double)
    case exponential(gamma: Double)
    case cosine
    case cosineRestarts(cycle: Int, multiplier: Double)
    case cyclic(end: Double, cycle: Int)
    case piecewise(iterations: [Int], rates: [Double])
    case warmup(iterations: Int, then: SchedulerSpecification)

    static let grammar =
        "constant, step:EPOCHS:GAMMA, multistep:E1,E2,...:GAMMA, exponential:GAMMA, cosine, cosine-restarts:CYCLE[:MULTIPLIER], "
        + "cyclic:END:CYCLE, piecewise:ITERATION=RATE,... or warmup:ITERATIONS[+SCHEDULE] (GAMMA in (0, 1], ITERATIONS and CYCLE at least 2)"

    /// Parses the forms listed on the type.
    /// - Throws: `ConfigurationError.invalid` naming the forms.
    public init(parsing text: String) throws {
        let bad = ConfigurationError.invalid(option: "--scheduler", value: text, expected: Self.grammar)
        if let plus = text.firstIndex(of: "+") {
            guard case .warmup(let iterations, .constant) = try Self(parsing: String(text[..<plus])) else { throw bad }
            let then = try Self(parsing: String(text[text.index(after: plus)...]))
            if case .warmup = then { throw bad }
            self = .warmup(iterations: iterations, then: then)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func gamma(_ text: String) throws -> Double {
            guard let value = Double(text), value > 0, value <= 1 else { throw bad }
            return value
        }
        func count(_ text: String, atLeast minimum: Int) throws -> Int {
            guard let value = Int(text), value >= minimum else { throw bad }
            return value
        }
        switch (parts[0], parts.count) {
        case ("constant", 1): self = .constant
        case ("cosine", 1): self = .cosine
        case ("step", 3): self = .step(epochs: try count(parts[1], atLeast: 1), gamma: try gamma(parts[2]))
        case ("multistep", 3):
            let epochs = try parts[1].split(separator: ",", omittingEmptySubsequences: false).map { try count(String($0), atLeast: 1) }
            guard zip(epochs, epochs.dropFirst()).allSatisfy({ $0 < $1 }) else { throw bad }
            self = .multiStep(epochs: epochs, gamma: try gamma(parts[2]))
        case ("exponential", 2): self = .exponential(gamma: try gamma(parts[1]))
        case ("cosine-restarts", 2), ("cosine-restarts", 3):
            let multiplier = parts.count == 3 ? Double(parts[2]) : 1
            guard let multiplier, multiplier >= 1, multiplier.isFinite else { throw bad }
            self = .cosineRestarts(cycle: try count(parts[1], atLeast: 2), multiplier: multiplier)
        case ("cyclic", 3):
            guard let end = Double(parts[1]), end >= 0, end.isFinite else { throw bad }
            self = .cyclic(end: end, cycle: try count(parts[2], atLeast: 2))
        case ("piecewise", 2):
            var iterations: [Int] = []
            var rates: [Double] = []
            for milestone in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
                let pair = milestone.split(separator: "=", omittingEmptySubsequences: false)
                guard pair.count == 2, let rate = Double(pair[1]), rate >= 0, rate.isFinite else { throw bad }
                iterations.append(try count(String(pair[0]), atLeast: 0))
                rates.append(rate)
            }
            guard zip(iterations, iterations.dropFirst()).allSatisfy({ $0 < $1 }) else { throw bad }
            self = .piecewise(iterations: iterations, rates: rates)
        case ("warmup", 2): self = .warmup(iterations: try count(parts[1], atLeast: 2), then: .constant)
        case ("warmup-cosine", 2): self = .warmup(iterations: try count(parts[1], atLeast: 2), then: .cosine)
        default: throw bad
        }
    }

    public var description: String {
        switch self {
        case .constant: "constant"
        case .step(let epochs, let gamma): "step:\(epochs):\(gamma)"
        case .multiStep(let epochs, let gamma): "multistep:\(epochs.map(String.init).joined(separator: ",")):\(gamma)"
        case .exponential(let gamma): "exponential:\(gamma)"
        case .cosine: "cosine"
        case .cosineRestarts(let cycle, let multiplier): multiplier == 1 ? "cosine-restarts:\(cycle)" : "cosine-restarts:\(cycle):\(multiplier)"
        case .cyclic(let end, let cycle): "cyclic:\(end):\(cycle)"
        case .piecewise(let iterations, let rates): "piecewise:" + zip(iterations, rates).map { "\($0)=\($1)" }.joined(separator: ",")
        case .warmup(let iterations, .constant): "warmup:\(iterations)"
        case .warmup(let iterations, let then): "warmup:\(iterations)+\(then)"
        }
    }

    /// Whether the schedule moves once per epoch (attached at `.epochStarted`) rather than per iteration.
    public var movesPerEpoch: Bool {
        switch self {
        case .step, .multiStep, .exponential: true
        default: false
        }
    }

    /// The rate at each event index from `base`: epochs for the per-epoch forms at the top, iterations otherwise
    /// (inside a warm-up an epoch is `perEpoch` iterations). `iterations` is the run's length in iterations.
    /// - Throws: `ArgumentError` when the library refuses the schedule's values.
    public func schedule(base: Double, perEpoch: Int, iterations: Int, inIterations: Bool? = nil) throws -> @Sendable (Int) -> Double {
        let perEvent = (inIterations ?? !movesPerEpoch) ? Swift.max(perEpoch, 1) : 1
        switch self {
        case .constant: return { _ in base }
        case .step(let epochs, let gamma): return { n in base * pow(gamma, Double(n / perEvent / epochs)) }
        case .multiStep(let epochs, let gamma):
            return { n in base * pow(gamma, Double(epochs.filter { $0 <= n / perEvent }.count)) }
        case .exponential(let gamma): return { n in base * pow(gamma, Double(n / perEvent)) }
        case .cosine: return LearningRateScheduler.cosine(base: base, cycle: Swift.max(iterations, 1))
        case .cosineRestarts(let cycle, let multiplier):
            return try LearningRateScheduler.cyclical(.cosine, start: base, end: 0, cycleSize: cycle, cycleMultiplier: multiplier)
        case .cyclic(let end, let cycle): return try LearningRateScheduler.cyclical(.linear, start: base, end: end, cycleSize: cycle)
        case .piecewise(let milestones, let rates):
            return try LearningRateScheduler.piecewiseLinear(zip(milestones, rates).map { (event: $0, value: $1) })
        case .warmup(let warmup, let then):
            let rest = try then.schedule(base: base, perEpoch: perEpoch, iterations: Swift.max(iterations - warmup, 1), inIterations: true)
            return try LearningRateScheduler.warmup(events: warmup, then: rest)
        }
    }
}
