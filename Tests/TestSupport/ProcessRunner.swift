import ChildProcesses
import Foundation

/// What a finished child process printed and how it ended.
public struct ProcessResult: Sendable {
    public var exitCode: Int32
    public var standardOutput: String
    public var standardError: String
    /// True when the process had to be stopped because it outlived its deadline.
    public var timedOut: Bool

    /// The last non-empty line of standard output (where swift-train prints its JSON summary).
    public var lastOutputLine: String {
        standardOutput.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// The last standard-output line parsed as a JSON object.
    public func summary() throws -> [String: Any] {
        let data = Data(lastOutputLine.utf8)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ProcessRunnerError.notJSON(lastOutputLine)
        }
        return object
    }
}

/// A process `ProcessRunner.start` started.
public struct RunningProcess: Sendable {
    let capture: CapturingChild

    /// The running child, to signal it or wait for it with a deadline of the test's own.
    public var child: ChildProcess { capture.child }

    /// Waits for its end (stopping it at its deadline) and returns what it printed.
    public func finish() -> ProcessResult {
        let run = capture.finish()
        return ProcessResult(
            exitCode: run.termination.exitCode,
            standardOutput: String(decoding: run.standardOutput, as: UTF8.self),
            standardError: String(decoding: run.standardError, as: UTF8.self),
            timedOut: run.timedOut)
    }
}

/// Why a child process could not be run or read.
public enum ProcessRunnerError: Error, CustomStringConvertible {
    case executableNotFound(String)
    case notJSON(String)

    public var description: String {
        switch self {
        case .executableNotFound(let name): "executable not found: \(name) (build the package first)"
        case .notJSON(let line): "last output line is not a JSON object: \(line)"
        }
    }
}

/// Runs built executables (alone or under mpirun) as child processes, the way a user would.
public enum ProcessRunner {
    /// The folder holding the package's built products (the test bundle sits beside them).
    public static var productsDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["SWIFT_TRAIN_PRODUCTS"] {
            return URL(fileURLWithPath: override)
        }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = exe.deletingLastPathComponent()
        // Inside `X.xctest/` on some layouts: climb out of the bundle.
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" {
            directory.deleteLastPathComponent()
        }
        return directory
    }

    /// The path of a built executable product such as `swift-train`.
    public static func executable(_ name: String) throws -> String {
        let path = productsDirectory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ProcessRunnerError.executableNotFound(path)
        }
        return path
    }

    /// Environment for mpirun as root with more ranks than cores, one BLAS thread per rank.
    public static var mpiEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment["OPENBLAS_NUM_THREADS"] = "1"
        environment["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        return environment
    }

    /// mpirun's own arguments for `ranks` local ranks, over TCP sockets when `tcp` is set.
    public static func mpirunArguments(ranks: Int, tcp: Bool = false) -> [String] {
        var arguments = ["-n", String(ranks), "--oversubscribe", "--bind-to", "none"]
        if tcp { arguments += ["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"] }
        return arguments
    }

    /// Runs `executable` with `arguments` in a process group of its own, stopping the group after `timeout` seconds.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: URL? = nil, timeout: TimeInterval = 300
    ) throws -> ProcessResult {
        try start(executable, arguments, environment: environment, currentDirectory: currentDirectory, timeout: timeout).finish()
    }

    /// Starts what `run` runs, for a test that acts while it runs; `finish()` then waits (until `timeout` seconds
    /// after the start at most) and returns its result.
    public static func start(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: URL? = nil, timeout: TimeInterval = 300
    ) throws -> RunningProcess {
        RunningProcess(
            capture: try CapturingChild(
                [executable] + arguments, environment: environment ?? ProcessInfo.processInfo.environment,
                currentDirectory: currentDirectory?.path, timeout: timeout))
    }

    /// Runs a built product under `mpirun` with `ranks` local ranks.
    public static func mpirun(
        ranks: Int, tcp: Bool = false, product: String, _ arguments: [String],
        currentDirectory: URL? = nil, timeout: TimeInterval = 300
    ) throws -> ProcessResult {
        let path = try executable(product)
        return try run(
            "mpirun", mpirunArguments(ranks: ranks, tcp: tcp) + [path] + arguments,
            environment: mpiEnvironment, currentDirectory: currentDirectory, timeout: timeout)
    }

    /// A fresh empty directory for one test's files.
    public static func makeTemporaryDirectory(_ label: String = "test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-train-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The repository's `../shared` folder (data sets and baselines), found from this source file.
    public static var sharedDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["SWIFT_TRAIN_SHARED"] {
            return URL(fileURLWithPath: override)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared")
    }
}

/// The Python interpreter of the interop tests: launch/test's venv (`SWIFT_TRAIN_TEST_PYTHON`), else `python3`.
public enum TestPython {
    public static let path = ProcessInfo.processInfo.environment["SWIFT_TRAIN_TEST_PYTHON"] ?? "python3"

    /// Whether the interpreter imports `module` (nothing is installed here: launch/test does that beforehand).
    public static func imports(_ module: String) -> Bool {
        (try? ProcessRunner.run("/usr/bin/env", [path, "-c", "import \(module)"], timeout: 60).exitCode) == 0
    }
}
