import Cluster
import EngineCore
import Foundation

/// Events per second (Ignite's `Frequency`, e.g. tokens/s): the count given at each update over the time since the
/// last reset; across ranks the counts add up and the times are averaged, so it is the whole job's rate.
public final class Frequency: Metric {
    /// The count so far and the seconds from the reset to the last update.
    public var sums: [Double] = [0, 0]
    public var communicator: (any Communicator)?
    private let clock: () -> Double
    private var start: Double

    /// A frequency over `communicator`'s ranks; `clock` (seconds) can be replaced in tests.
    public init(communicator: (any Communicator)? = nil, clock: (() -> Double)? = nil) {
        self.communicator = communicator
        self.clock = clock ?? { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        start = self.clock()
    }

    public func reset() {
        sums = [0, 0]
        start = clock()
    }

    /// Adds `count` events (a batch's tokens or samples).
    /// - Throws: `MetricError` for a negative or non-finite count.
    public func update(_ count: Double) throws {
        guard count >= 0, count.isFinite else { throw MetricError("Frequency counts events: \(count) is not a count") }
        sums[0] += count
        sums[1] = clock() - start
    }

    /// Restores the count and the elapsed seconds; the time goes on from the saved seconds.
    /// - Throws: `StateDictError` when the sums are missing, not two, or negative.
    public func loadStateDict(_ state: StateDict) throws {
        let values = try state.array("sums").map { value -> Double in
            switch value {
            case .double(let number): return number
            case .int(let number): return Double(number)
            default: throw StateDictError.wrongType(key: "sums", expected: "numbers")
            }
        }
        guard values.count == 2, values.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw StateDictError.invalidValue(key: "sums", reason: "a count and the seconds elapsed, neither negative")
        }
        sums = values
        start = clock() - values[1]
    }

    public func value(from sums: [Double]) throws -> Double {
        let ranks = Double(communicator?.size ?? 1)
        guard sums[1] > 0 else { throw MetricError("Frequency must have at least one update after some time before it can be computed") }
        return sums[0] / (sums[1] / ranks)
    }
}
