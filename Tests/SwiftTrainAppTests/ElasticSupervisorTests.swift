import Foundation
import SwiftTrainApp
import Testing

@Suite("The elastic supervisor: hosts, world sizes and restarts")
struct ElasticSupervisorTests {
    @Test("host lists read as Open MPI hostfiles or Horovod discovery output, in order, with clear errors")
    func hostLists() throws {
        let hosts = try ElasticHost.parseList(
            "# cluster\nnode1 slots=2\nnode2 slots=4 max_slots=4\n\nnode3:3\nnode4\nnode1 slots=1\n", source: "hosts")
        #expect(
            hosts == [
                ElasticHost(name: "node1", slots: 3), ElasticHost(name: "node2", slots: 4),
                ElasticHost(name: "node3", slots: 3), ElasticHost(name: "node4", slots: 1)
            ])
        #expect(throws: ElasticError.badHostList(source: "hosts", line: 2, text: "node2 slots=two")) {
            try ElasticHost.parseList("node1\nnode2 slots=two\n", source: "hosts")
        }
        #expect(throws: ElasticError.self) { try ElasticHost.parseList("node1:0", source: "script") }
        // Windows line ends, and IPv6 addresses (their colons are not a slot count).
        #expect(
            try ElasticHost.parseList("node1 slots=2\r\nnode2:3\r\n", source: "hosts")
                == [ElasticHost(name: "node1", slots: 2), ElasticHost(name: "node2", slots: 3)])
        #expect(
            try ElasticHost.parseList("fd00::12 slots=4\nfd00::13", source: "hosts")
                == [ElasticHost(name: "fd00::12", slots: 4), ElasticHost(name: "fd00::13", slots: 1)])
    }

    @Test("Slurm's tasks per node expand to one slot count per node")
    func slurmTasks() throws {
        #expect(try ElasticHost.slurmTasksPerNode("2(x3),1", nodes: 4) == [2, 2, 2, 1])
        #expect(try ElasticHost.slurmTasksPerNode("4", nodes: 1) == [4])
        #expect(throws: ElasticError.self) { try ElasticHost.slurmTasksPerNode("2(x3)", nodes: 2) }
        #expect(throws: ElasticError.self) { try ElasticHost.slurmTasksPerNode("two", nodes: 1) }
    }

    @Test("the world size is the largest the slots hold that divides the virtual shard count")
    func worldSizes() {
        #expect(ElasticSupervisor.worldSize(slots: 7, virtualShards: 8) == 4)
        #expect(ElasticSupervisor.worldSize(slots: 2, virtualShards: 8) == 2)
        #expect(ElasticSupervisor.worldSize(slots: 16, virtualShards: 8) == 8)
        #expect(ElasticSupervisor.worldSize(slots: 3, virtualShards: 1) == 1)
        #expect(ElasticSupervisor.worldSize(slots: 7, virtualShards: nil) == 7)
    }

    /// A supervisor over `hosts` whose launches fail while `failures` lasts; records launches and log lines.
    final class Harness: @unchecked Sendable {
        var hosts: [ElasticHost]
        var dead: Set<String> = []
        var failures: Int
        var attempts: [ElasticSupervisor.Attempt] = []
        var log: [String] = []
        init(hosts: [ElasticHost], failures: Int) {
            self.hosts = hosts
            self.failures = failures
        }
        func supervisor(maxRestarts: Int, minRanks: Int = 1, shards: Int? = 8, killOnFailure: String? = nil) -> ElasticSupervisor {
            ElasticSupervisor(
                maxRestarts: maxRestarts, minRanks: minRanks, virtualShards: shards,
                discover: { self.hosts }, isUsable: { !self.dead.contains($0.name) },
                launch: { attempt in
                    self.attempts.append(attempt)
                    guard self.failures > 0 else { return .succeeded }
                    self.failures -= 1
                    if let killOnFailure { self.dead.insert(killOnFailure) }
                    return .failed(exitCode: 137, reason: "rank 2 killed")
                },
                log: { self.log.append($0) })
        }
    }

    @Test("a lost host: the next attempt runs on the hosts left, at a world size dividing the shards, and says why")
    func restartOnFewerHosts() throws {
        let harness = Harness(hosts: [ElasticHost(name: "a", slots: 2), ElasticHost(name: "b", slots: 2)], failures: 1)
        try harness.supervisor(maxRestarts: 3, killOnFailure: "b").run()
        #expect(harness.attempts.map(\.worldSize) == [4, 2])
        #expect(harness.attempts[1].hosts == [ElasticHost(name: "a", slots: 2)])
        #expect(harness.log.contains { $0.contains("b is not usable") })
        #expect(
            harness.log.contains { $0.contains("restart 1 of 3 after: exit code 137 (rank 2 killed); now 2 ranks on a (2 slots) (was 4)") },
            "\(harness.log)")
    }

    @Test("a job that keeps failing ends after --max-restarts with the last failure")
    func restartsExhausted() {
        let harness = Harness(hosts: [ElasticHost(name: "a", slots: 2)], failures: 10)
        #expect(throws: ElasticError.restartsExhausted(attempts: 3, maxRestarts: 2, lastFailure: "exit code 137 (rank 2 killed)")) {
            try harness.supervisor(maxRestarts: 2).run()
        }
        #expect(harness.attempts.count == 3)
    }

    @Test("fewer usable ranks than --min-ranks ends the job instead of running smaller")
    func minimumRanks() {
        let harness = Harness(hosts: [ElasticHost(name: "a", slots: 2), ElasticHost(name: "b", slots: 2)], failures: 1)
        #expect(throws: ElasticError.tooFewRanks(available: 2, minimum: 4, shards: 8)) {
            try harness.supervisor(maxRestarts: 3, minRanks: 4, killOnFailure: "b").run()
        }
        #expect(harness.attempts.count == 1)
    }

    @Test("each attempt is mpirun on the chosen hosts resuming from the newest checkpoint")
    func commandLine() {
        let launcher = ElasticMPILauncher(
            launcher: ["mpirun"], mpirunArguments: ["--mca", "btl", "self,tcp"], executable: "/bin/swift-train",
            trainArguments: ["--checkpoint-dir", "c"], probeTimeout: 5)
        let attempt = ElasticSupervisor.Attempt(number: 2, hosts: [ElasticHost(name: "a", slots: 2), ElasticHost(name: "b", slots: 1)], worldSize: 3)
        #expect(
            launcher.commandLine(for: attempt) == [
                "mpirun", "-n", "3", "--host", "a:2,b:1", "--mca", "btl", "self,tcp",
                "/bin/swift-train", "train", "--checkpoint-dir", "c", "--resume", "auto"
            ])
    }
}
