import ChildProcesses
import Foundation
import Testing

@Suite("Child processes: started clean, waited for by their own id, stopped with their group")
struct ChildProcessTests {
    @Test("what a child prints and how it ends are kept; a signal's end reads as 128 plus the signal")
    func outputAndEnd() throws {
        let run = try ChildProcess.capture(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(String(decoding: run.standardOutput, as: UTF8.self) == "out\n")
        #expect(String(decoding: run.standardError, as: UTF8.self) == "err\n")
        #expect(run.termination == .exited(3))
        #expect(!run.timedOut)
        let killed = try ChildProcess.capture(["sh", "-c", "kill -9 $$"])
        #expect(killed.termination == .signaled(SIGKILL))
        #expect(killed.termination.exitCode == 137)
    }

    @Test("the program is looked up on the child's PATH, in the directory asked for; a missing one is a clear error")
    func lookupAndDirectory() throws {
        let run = try ChildProcess.capture(["pwd"], environment: ["PATH": "/usr/bin:/bin"], currentDirectory: "/tmp")
        #expect(String(decoding: run.standardOutput, as: UTF8.self) == "/tmp\n")
        #expect(throws: ChildProcessError.notFound(program: "no-such-program-here")) {
            try ChildProcess(["no-such-program-here"])
        }
        #expect(throws: ChildProcessError.notFound(program: "/no/such/file")) { try ChildProcess(["/no/such/file"]) }
        #expect(ChildProcess.locate("sh")?.hasSuffix("/sh") == true)
        #expect(ChildProcess.locate("no-such-program-here") == nil)
    }

    @Test("a child starts with no signal blocked or ignored and no descriptor but 0, 1 and 2, whatever its parent has")
    func cleanStart() throws {
        var stops = sigset_t()
        var previous = sigset_t()
        sigemptyset(&stops)
        sigaddset(&stops, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stops, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)  // Inheritable in the parent.
        defer {
            close(ends[0])
            close(ends[1])
        }
        let run = try ChildProcess.capture(["sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/self/fd"])
        let lines = String(decoding: run.standardOutput, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.contains("SigBlk:\t0000000000000000"), "\(lines)")
        // Signals 1 to 31 (glibc keeps 32 and 33 for itself).
        let ignored = try #require(lines.first { $0.hasPrefix("SigIgn:") }.flatMap { UInt64($0.dropFirst(8), radix: 16) })
        #expect(ignored & 0x7fff_ffff == 0, "\(lines)")
        let descriptors = Set(lines.dropFirst(2))
        #expect(!descriptors.contains(String(ends[0])) && !descriptors.contains(String(ends[1])), "\(descriptors)")
    }

    @Test("past its deadline a child's whole group is stopped, and output held open by a descendant does not hold up the caller")
    func deadline() throws {
        let started = Date()
        let run = try ChildProcess.capture(["sh", "-c", "sleep 60 & sleep 60; echo never"], timeout: 0.5)
        #expect(run.timedOut)
        #expect(run.termination == .signaled(SIGTERM))
        #expect(Date().timeIntervalSince(started) < 10)
        let background = try ChildProcess.capture(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo done"], timeout: 20)
        #expect(String(decoding: background.standardOutput, as: UTF8.self) == "done\n")
        _ = try ChildProcess.capture(["pkill", "-f", "^sleep 30$"])
    }

    @Test("waiting returns once the child ends, with or without a deadline; a signal after the end goes nowhere")
    func waiting() throws {
        let child = try ChildProcess(["sleep", "0.2"])
        #expect(child.isRunning)
        #expect(child.wait(timeout: 0.01) == nil)
        #expect(child.wait() == .exited(0))
        #expect(!child.isRunning)
        child.signal(SIGKILL)
        #expect(child.wait(timeout: 0) == .exited(0))
        // Many short children from several threads at once: each waiter gets its own child's end.
        let codes = (0..<24).map { Int32($0 % 7) }
        let results = ResultBox(count: codes.count)
        DispatchQueue.concurrentPerform(iterations: codes.count) { index in
            let child = try? ChildProcess(["sh", "-c", "exit \(codes[index])"])
            results.set(index, child?.wait(timeout: 30))
        }
        #expect(results.values == codes.map { .exited($0) })
    }

    @Test("a pipe's read end reaches the parent, and closes when the child ends")
    func pipes() throws {
        let child = try ChildProcess(["sh", "-c", "printf 'a\\nb\\n' >&2"], standardError: .pipe)
        let text = String(decoding: try #require(child.standardError).readDataToEndOfFile(), as: UTF8.self)
        #expect(text == "a\nb\n")
        #expect(child.wait() == .exited(0))
    }
}

/// Results written from several threads.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Termination?]
    init(count: Int) { storage = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: Termination?) { lock.withLock { storage[index] = value } }
    var values: [Termination?] { lock.withLock { storage } }
}
