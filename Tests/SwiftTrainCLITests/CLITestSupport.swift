import Foundation
import TestSupport

/// Runs the built `swift-train` alone, on simulated ranks, or under mpirun, and reads its JSON summary.
enum SwiftTrainRunner {
    /// Runs `swift-train ARGS` as one process.
    static func run(_ arguments: [String], in directory: URL? = nil, timeout: TimeInterval = 300) throws -> ProcessResult {
        var environment = ProcessRunner.mpiEnvironment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        return try ProcessRunner.run(
            try ProcessRunner.executable("swift-train"), arguments, environment: environment,
            currentDirectory: directory, timeout: timeout)
    }

    /// Runs `mpirun -n RANKS swift-train ARGS` (TCP sockets only when `tcp`).
    static func mpirun(
        ranks: Int, tcp: Bool = false, _ arguments: [String], in directory: URL? = nil,
        timeout: TimeInterval = 300
    ) throws -> ProcessResult {
        try ProcessRunner.mpirun(
            ranks: ranks, tcp: tcp, product: "swift-train", arguments,
            currentDirectory: directory, timeout: timeout)
    }

    /// The summary's string field, e.g. `parameters_sha256`.
    static func string(_ result: ProcessResult, _ key: String) throws -> String {
        guard let value = try result.summary()[key] as? String else { throw SummaryError.missing(key, result) }
        return value
    }

    /// The summary's numeric field, e.g. `test_accuracy`.
    static func number(_ result: ProcessResult, _ key: String) throws -> Double {
        guard let value = try result.summary()[key] as? NSNumber else { throw SummaryError.missing(key, result) }
        return value.doubleValue
    }

    enum SummaryError: Error, CustomStringConvertible {
        case missing(String, ProcessResult)
        var description: String {
            switch self {
            case .missing(let key, let result):
                "summary has no '\(key)'; exit \(result.exitCode); stdout: \(result.standardOutput.suffix(500)); "
                    + "stderr: \(result.standardError.suffix(1500))"
            }
        }
    }

    /// A CSV of `rows` samples with `features` features and `classes` classes, learnable (class means differ).
    static func writeSyntheticCSV(rows: Int, features: Int = 8, classes: Int = 3, to url: URL) throws {
        var generator = SeededGenerator(seed: 42)
        var text = (0..<features).map { "f\($0)" }.joined(separator: ",") + ",label\n"
        for row in 0..<rows {
            let label = row % classes
            let values = (0..<features).map { feature -> String in
                let mean = feature % classes == label ? 1.5 : 0.0
                return String(format: "%.4f", mean + generator.nextGaussian())
            }
            text += values.joined(separator: ",") + ",class\(label)\n"
        }
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
}
