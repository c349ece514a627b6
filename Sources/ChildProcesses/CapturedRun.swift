import Foundation

/// What a finished child printed and how it ended.
public struct CapturedRun: Sendable {
    /// How it ended (after being stopped, when it timed out).
    public var termination: Termination
    /// Everything it wrote on standard output.
    public var standardOutput: Data
    /// Everything it wrote on standard error.
    public var standardError: Data
    /// Whether it outlived its deadline and was stopped.
    public var timedOut: Bool
}

/// A child whose output goes to files, started now and finished (waited for, its output read) later.
///
/// The output goes through files, not pipes, so a descendant that keeps them open cannot hold the caller up;
/// past the deadline given at the start the whole process group gets SIGTERM, then SIGKILL five seconds later.
public struct CapturingChild: Sendable {
    /// The running child (in a process group of its own).
    public let child: ChildProcess
    private let scratch: URL
    private let deadline: Date?

    /// Starts `commandLine`; `timeout` seconds from now it is stopped if it still runs.
    public init(
        _ commandLine: [String], environment: [String: String]? = nil, currentDirectory: String? = nil,
        timeout: TimeInterval? = nil
    ) throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swift-train-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        do {
            child = try ChildProcess(
                commandLine, environment: environment, currentDirectory: currentDirectory,
                standardOutput: .file(scratch.appendingPathComponent("out").path),
                standardError: .file(scratch.appendingPathComponent("err").path), newProcessGroup: true)
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            throw error
        }
        deadline = timeout.map { Date().addingTimeInterval($0) }
    }

    /// Waits for the child's end (stopping it at the deadline) and returns what it printed.
    public func finish() -> CapturedRun {
        defer { try? FileManager.default.removeItem(at: scratch) }
        var timedOut = false
        var termination: Termination
        if let deadline {
            if let ended = child.wait(timeout: max(0, deadline.timeIntervalSinceNow)) {
                termination = ended
            } else {
                timedOut = true
                termination = child.stop(grace: 5) ?? .signaled(SIGKILL)
            }
        } else {
            termination = child.wait()
        }
        return CapturedRun(
            termination: termination,
            standardOutput: FileManager.default.contents(atPath: scratch.appendingPathComponent("out").path) ?? Data(),
            standardError: FileManager.default.contents(atPath: scratch.appendingPathComponent("err").path) ?? Data(),
            timedOut: timedOut)
    }
}

extension ChildProcess {
    /// Runs `commandLine` to its end, in a process group of its own, keeping what it prints (see `CapturingChild`).
    public static func capture(
        _ commandLine: [String], environment: [String: String]? = nil, currentDirectory: String? = nil,
        timeout: TimeInterval? = nil
    ) throws -> CapturedRun {
        try CapturingChild(commandLine, environment: environment, currentDirectory: currentDirectory, timeout: timeout).finish()
    }
}
