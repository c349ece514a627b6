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

extension ChildProcess {
    /// Runs `commandLine` to its end, in a process group of its own, keeping what it prints.
    ///
    /// The output goes through files, not pipes, so a descendant that keeps them open cannot hold the caller up;
    /// past `timeout` seconds the whole group gets SIGTERM, then SIGKILL five seconds later.
    public static func capture(
        _ commandLine: [String], environment: [String: String]? = nil, currentDirectory: String? = nil,
        timeout: TimeInterval? = nil
    ) throws -> CapturedRun {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swift-train-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let output = scratch.appendingPathComponent("out").path, errors = scratch.appendingPathComponent("err").path
        let child = try ChildProcess(commandLine, environment: environment, currentDirectory: currentDirectory,
                                     standardOutput: .file(output), standardError: .file(errors), newProcessGroup: true)
        var timedOut = false
        var termination: Termination
        if let timeout {
            if let ended = child.wait(timeout: timeout) {
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
            standardOutput: FileManager.default.contents(atPath: output) ?? Data(),
            standardError: FileManager.default.contents(atPath: errors) ?? Data(),
            timedOut: timedOut)
    }
}
