import Cluster
import Foundation
import SwiftTrainApp
import Testing

/// Host lists that would crash or overload the launcher, and jobs whose mpirun never ends, are bounded.
@Suite("Elastic jobs: bounded host lists and bounded ends")
struct ElasticBoundsTests {
    @Test("host names with a comma, a NUL, a space-free shell character or a leading '-' are refused, naming the line")
    func hostNames() throws {
        for name in ["node1,node2", "node\u{0}1", "node;rm", "-oProxyCommand=x", "nödé", "a$(b)"] {
            #expect(throws: ElasticError.self, "\(name.debugDescription)") { try ElasticHost.parseList("\(name) slots=1\n", source: "hosts") }
        }
        #expect(throws: ElasticError.badHostName(source: "hosts", line: 2, name: "b,c")) {
            try ElasticHost.parseList("a\nb,c:2\n", source: "hosts")
        }
        #expect(try ElasticHost.parseList("node-1.example.org slots=2\n10.0.0.3:2\nfd00::1 slots=1\n", source: "h").count == 3)
    }

    @Test("one host listed 4,096 times, or slots past 1,024 on a host, is refused; so is more than 8 ranks per local core")
    func slotBounds() throws {
        let repeated = String(repeating: "node1\n", count: 4096)
        #expect(throws: ElasticError.tooManySlots(host: "node1", slots: 1025, limit: 1024)) {
            try ElasticHost.parseList(repeated, source: "hosts")
        }
        #expect(throws: ElasticError.self) { try ElasticHost.parseList("localhost slots=4096\n", source: "hosts") }
        let local = try ElasticHost.parseList("localhost slots=600\nlocalhost slots=400\n", source: "hosts")
        #expect(throws: ElasticError.tooManySlots(host: "this machine", slots: 1000, limit: 16)) {
            try ElasticHost.checkLocalSlots(local, cores: 2)
        }
        try ElasticHost.checkLocalSlots([ElasticHost(name: "node7", slots: 64)], cores: 2)
        #expect(throws: ElasticError.self) { try ElasticHost.parseList("localhost slots=2 max_slots=1\n", source: "hosts") }
        #expect(try ElasticHost.parseList("node1 slots=2 max_slots=4\n", source: "hosts") == [ElasticHost(name: "node1", slots: 2)])
    }

    @Test("a job whose rank recorded a failure but whose mpirun hangs is ended after the grace, reaped, and its reason read")
    func hangingMPIRun() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("elastic-hang-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A stand-in for mpirun: a rank records its deadline failure, then the launcher waits for daemons forever,
        // with a child of its own (as mpirun's ssh) that would outlive it.
        let script = directory.appendingPathComponent("hanging-mpirun")
        let pidFile = directory.appendingPathComponent("child.pid").path
        try """
        #!/bin/bash
        printf '{"exit_code":1,"message":"MPI_Allreduce did not complete within 60 s","rank":1}\\n' >> "$\(FailureRecord.environmentKey)"
        sleep 600 &
        echo $! > \(pidFile)
        trap '' TERM
        wait
        """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        var launcher = ElasticMPILauncher(
            launcher: [script.path], mpirunArguments: [], executable: "/bin/true",
            trainArguments: [], probeTimeout: 5)
        launcher.failureGrace = 1
        let started = Date()
        let outcome = try launcher.run(ElasticSupervisor.Attempt(number: 1, hosts: [ElasticHost(name: "localhost", slots: 1)], worldSize: 1))
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(outcome == .failed(exitCode: outcome.exitCode, reason: "rank 1: MPI_Allreduce did not complete within 60 s"))
        let child = Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        usleep(200_000)
        #expect(child > 0 && kill(child, 0) != 0, "the launcher's own child is ended too")
    }
}

extension ElasticSupervisor.Outcome {
    var exitCode: Int32 { if case .failed(let code, _) = self { code } else { 0 } }
}
