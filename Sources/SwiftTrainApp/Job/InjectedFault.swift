import Foundation
import Training

/// A failure injected on purpose to test that a cluster ends promptly and resumes exactly
/// (`--inject-fault throw:RANK:ITERATION`, `kill:RANK:ITERATION`, `hang:RANK:ITERATION`, or `term:RANK:ITERATION`: a
/// SIGTERM to that rank alone, as a scheduler's preemption notice).
package struct InjectedFault: Sendable, Equatable, OptionText {
    /// What happens.
    package enum Kind: String, Sendable { case `throw`, kill, hang, term }
    package let kind: Kind
    package let rank: Int
    package let iteration: Int

    /// Parses `throw:R:N` or `kill:R:N`.
    package init(parsing text: String) throws {
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3, let kind = Kind(rawValue: parts[0]), let rank = Int(parts[1]), rank >= 0,
            let iteration = Int(parts[2]), iteration > 0
        else {
            throw ConfigurationError.invalid(
                option: "--inject-fault", value: text,
                expected: "throw:RANK:ITERATION, kill:RANK:ITERATION, hang:RANK:ITERATION or term:RANK:ITERATION")
        }
        self.kind = kind
        self.rank = rank
        self.iteration = iteration
    }

    package var description: String { "\(kind.rawValue):\(rank):\(iteration)" }

    /// The error a `throw` fault raises.
    package struct Raised: Error, CustomStringConvertible {
        public let rank: Int
        /// The iteration it happened at.
        public let iteration: Int
        public var description: String { "injected fault on rank \(rank) at iteration \(iteration)" }
    }

    /// Carries out the fault on this rank.
    func trigger(rank: Int) throws {
        switch kind {
        case .throw: throw Raised(rank: rank, iteration: iteration)
        case .kill: kill(getpid(), SIGKILL)
        case .hang: sleep(600)
        case .term: kill(getpid(), SIGTERM)
        }
    }
}
