import Foundation

/// Monotonic seconds, for timing benchmark runs.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// The median of some measurements.
func median(_ values: [Double]) -> Double {
    precondition(!values.isEmpty, "median of nothing")
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Prints one benchmark line `bench NAME key=value ...` and flushes it.
func report(_ name: String, _ fields: KeyValuePairs<String, String>) {
    let line = (["bench", name] + fields.map { "\($0.key)=\($0.value)" }).joined(separator: " ")
    print(line)
    fflush(nil)
}

/// Formats a number with a fixed number of decimals.
func format(_ value: Double, _ decimals: Int = 0) -> String { String(format: "%.\(decimals)f", value) }

/// A benchmark failure to report on one line.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
