import CSpawn
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A program started as a child process and waited for by its own process id.
///
/// Foundation's `Process` learns of a child's end from SIGCHLD; under a `dispatch_main` thread (Swift Testing's runner)
/// that signal can be lost, leaving a zombie and its waiter blocked forever. This type never depends on the signal:
/// it waits with `waitid`/`waitpid` on the child itself, starts it with every signal unblocked and at its default
/// action (whatever the parent blocked or ignored), and closes every descriptor but the three standard ones in it.
public final class ChildProcess: @unchecked Sendable {
    /// The child's process id.
    public let processIdentifier: pid_t
    /// Whether the child leads a process group of its own (signals can then reach all it starts).
    public let leadsProcessGroup: Bool
    /// The read end of the child's standard output, when it was started with `.pipe`.
    public let standardOutput: FileHandle?
    /// The read end of the child's standard error, when it was started with `.pipe`.
    public let standardError: FileHandle?

    private let lock = NSLock()
    private var termination: Termination?

    /// Starts `commandLine` (its program looked up on the child's PATH when it has no slash).
    ///
    /// - Throws: `ChildProcessError` when the program is not found or cannot be started.
    public init(
        _ commandLine: [String], environment: [String: String]? = nil, currentDirectory: String? = nil,
        standardInput: ChildStream = .null, standardOutput: ChildStream = .inherit, standardError: ChildStream = .inherit,
        newProcessGroup: Bool = false
    ) throws {
        precondition(!commandLine.isEmpty, "a command line names at least its program")
        let environment = environment ?? ProcessInfo.processInfo.environment
        let program = try Self.resolve(commandLine[0], path: environment["PATH"])

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var pipeEnds: [Int32: (read: Int32, write: Int32)] = [:]
        defer { for ends in pipeEnds.values { close(ends.write) } }
        for (descriptor, stream) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            switch stream {
            case .inherit:
                break
            case .null:
                posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_RDWR, 0)
            case .file(let path):
                let flags = descriptor == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
                posix_spawn_file_actions_addopen(&actions, descriptor, path, flags, 0o644)
            case .pipe:
                precondition(descriptor != 0, "standard input cannot be a pipe here")
                var ends: [Int32] = [0, 0]
                guard cspawn_pipe_cloexec(&ends) == 0 else {
                    for ends in pipeEnds.values { close(ends.read) }
                    throw ChildProcessError.cannotStart(program: commandLine[0], reason: String(cString: strerror(errno)))
                }
                pipeEnds[descriptor] = (ends[0], ends[1])
                posix_spawn_file_actions_adddup2(&actions, ends[1], descriptor)
            }
        }
        cspawn_add_close_from(&actions, 3)
        if let currentDirectory { cspawn_add_change_directory(&actions, currentDirectory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        var every = sigset_t()
        sigemptyset(&none)
        sigemptyset(&every)
        for number in 1..<Int32(32) where number != SIGKILL && number != SIGSTOP { sigaddset(&every, number) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &every)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let arguments = commandLine.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in arguments { free(pointer) }
            for pointer in variables { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, program, &actions, &attributes, arguments, variables)
        guard status == 0 else {
            for ends in pipeEnds.values { close(ends.read) }
            throw ChildProcessError.cannotStart(program: commandLine[0], reason: String(cString: strerror(status)))
        }
        processIdentifier = pid
        leadsProcessGroup = newProcessGroup
        self.standardOutput = pipeEnds[1].map { FileHandle(fileDescriptor: $0.read, closeOnDealloc: true) }
        self.standardError = pipeEnds[2].map { FileHandle(fileDescriptor: $0.read, closeOnDealloc: true) }
    }

    /// The path `program` would start from: itself when it has a slash, else the first executable of that name on
    /// this process's PATH; nil when there is none.
    public static func locate(_ program: String) -> String? {
        try? resolve(program, path: ProcessInfo.processInfo.environment["PATH"])
    }

    /// The path of `program`: itself when it has a slash, else the first executable of that name on `path`.
    static func resolve(_ program: String, path: String?) throws -> String {
        if program.contains("/") {
            guard access(program, X_OK) == 0 else { throw ChildProcessError.notFound(program: program) }
            return program
        }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw ChildProcessError.notFound(program: program)
    }

    /// How the child ended, or nil while it runs (never blocks).
    public var exitStatus: Termination? {
        lock.withLock {
            if termination == nil {
                var status: Int32 = 0
                var result: pid_t
                repeat { result = waitpid(processIdentifier, &status, WNOHANG) } while result == -1 && errno == EINTR
                if result == processIdentifier { termination = Termination(waitStatus: status) }
                if result == -1 { termination = .exited(-1) }  // Reaped elsewhere: nothing more can be learnt.
            }
            return termination
        }
    }

    /// Whether the child still runs.
    public var isRunning: Bool { exitStatus == nil }

    /// Waits for the child's end.
    @discardableResult
    public func wait() -> Termination {
        if let termination = lock.withLock({ termination }) { return termination }
        // Wait without reaping, so that `signal` never reaches a recycled process id; then reap under the lock.
        var info = siginfo_t()
        var result: Int32
        repeat { result = waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOWAIT) } while result == -1 && errno == EINTR
        while true {
            if let termination = exitStatus { return termination }
            usleep(1_000)
        }
    }

    /// Waits at most `timeout` seconds for the child's end; nil if it still runs then.
    @discardableResult
    public func wait(timeout: TimeInterval) -> Termination? {
        let deadline = Date().addingTimeInterval(timeout)
        var pause: useconds_t = 500
        while true {
            if let termination = exitStatus { return termination }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            usleep(min(pause, useconds_t(left * 1_000_000) + 1))
            pause = min(pause * 2, 50_000)
        }
    }

    /// Sends `number` to the child, or to its whole process group when it leads one and `group` is set;
    /// nothing once the child has been waited for.
    public func signal(_ number: Int32, group: Bool = false) {
        lock.withLock {
            guard termination == nil else { return }
            _ = kill(group && leadsProcessGroup ? -processIdentifier : processIdentifier, number)
        }
    }

    /// Ends the child: SIGTERM (to its group when it leads one), then SIGKILL after `grace` seconds.
    @discardableResult
    public func stop(grace: TimeInterval) -> Termination? {
        signal(SIGTERM, group: true)
        if let termination = wait(timeout: grace) {
            killRemainingGroup()
            return termination
        }
        signal(SIGKILL, group: true)
        let termination = wait(timeout: 10)
        killRemainingGroup()
        return termination
    }

    /// Once the child has ended, waits up to `grace` seconds for the rest of its process group (the ranks mpirun
    /// started) to end, then ends what is left with SIGKILL: nothing the child started outlives the caller's wait.
    public func endGroup(grace: TimeInterval) {
        guard leadsProcessGroup, exitStatus != nil else { return }
        let deadline = Date().addingTimeInterval(grace)
        while kill(-processIdentifier, 0) == 0, Date() < deadline { usleep(20_000) }
        killRemainingGroup()
    }

    /// SIGKILL to what is left of the child's process group once the child itself has ended (an `ssh` that mpirun
    /// started and that outlived it): nothing the group started is left behind. The group's id cannot be reused
    /// while any member lives, and signalling an empty group does nothing.
    private func killRemainingGroup() {
        guard leadsProcessGroup else { return }
        _ = kill(-processIdentifier, SIGKILL)
    }
}

/// Where a child's standard stream goes.
public enum ChildStream: Sendable, Equatable {
    /// The parent's own stream.
    case inherit
    /// `/dev/null`.
    case null
    /// A file: read for standard input; created or truncated for the outputs.
    case file(String)
    /// A pipe whose read end the parent gets (`ChildProcess.standardOutput` or `.standardError`).
    case pipe
}

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    /// It exited with this code.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    init(waitStatus status: Int32) {
        self = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
    }

    /// Whether it exited with code 0.
    public var succeeded: Bool { self == .exited(0) }

    /// The shell's number for it: the exit code, or 128 plus the signal.
    public var exitCode: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let number): 128 + number
        }
    }

    /// "exit code N" or "signal N", as the supervisor's messages say it.
    public var description: String {
        switch self {
        case .exited(let code): "exit code \(code)"
        case .signaled(let number): "signal \(number)"
        }
    }
}

/// Why a child process could not be started.
public enum ChildProcessError: Error, Equatable, CustomStringConvertible {
    /// No executable of that name on PATH, or the path given is not executable.
    case notFound(program: String)
    /// The system refused to start it (the reason is the system's).
    case cannotStart(program: String, reason: String)

    /// One line naming the program and what went wrong.
    public var description: String {
        switch self {
        case .notFound(let program): "\(program): command not found"
        case .cannotStart(let program, let reason): "cannot start \(program): \(reason)"
        }
    }
}
