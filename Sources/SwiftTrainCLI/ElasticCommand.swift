import ArgumentParser
import ChildProcesses
import Foundation
import SwiftTrainApp
import Training

/// `swift-train elastic`: runs a training job under mpirun and restarts it on the hosts still usable when a rank or
/// a host fails, resuming from rank 0's newest checkpoint, up to `--max-restarts` times.
struct ElasticCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "elastic",
        abstract: "Run a training job under mpirun and restart it on the hosts that are left when a rank or host fails.",
        discussion: """
            swift-train elastic --hostfile hosts --max-restarts 3 --min-ranks 2 -- --virtual-shards 8 --checkpoint-dir ckpt
            Each attempt runs `mpirun -n W --host H1:S1,... swift-train train ARGS --resume auto`, W being the largest
            world size the usable hosts hold that divides --virtual-shards. Rank 0 runs on the first usable host:
            its --checkpoint-dir must survive (a shared file system, or the first host kept alive).
            """)

    @Option(help: "Hosts as an Open MPI hostfile ('NAME slots=N' lines), read again before every attempt.")
    var hostfile: String?
    @Option(help: "A program printing the usable hosts ('NAME:SLOTS' lines), run before every attempt (Horovod's --host-discovery-script).")
    var discoveryScript: String?
    @Option(parsing: .unconditional, help: "Ranks on this machine when no hostfile or script is given (default: its cores).")
    var slots: Int?
    @Option(parsing: .unconditional, help: "Restarts allowed after the first launch.")
    var maxRestarts = 3
    @Option(parsing: .unconditional, help: "The smallest world size to run on; fewer usable ranks end the job.")
    var minRanks = 1
    @Option(help: "The mpirun command (split on spaces), for example 'mpirun' or a wrapper script.")
    var launcher = "mpirun"
    @Option(parsing: .unconditionalSingleValue, help: "An argument for mpirun, before the executable (repeat for several).")
    var mpirunArg: [String] = []
    @Option(parsing: .unconditional, help: "Seconds a host has to start a probe process before it is left out.")
    var probeTimeout = 20.0
    @Argument(parsing: .postTerminator, help: "The training options, after '--' (see swift-train train --help).")
    var trainArguments: [String] = []

    func validate() throws {
        guard maxRestarts >= 0 else { throw ValidationError("--max-restarts must be 0 or more, got \(maxRestarts)") }
        guard minRanks >= 1 else { throw ValidationError("--min-ranks must be at least 1, got \(minRanks)") }
        if let slots, slots < 1 { throw ValidationError("--slots must be at least 1, got \(slots)") }
        guard probeTimeout > 0, probeTimeout.isFinite else { throw ValidationError("--probe-timeout must be a positive number of seconds") }
        guard hostfile == nil || discoveryScript == nil else { throw ValidationError("give --hostfile or --discovery-script, not both") }
        guard !ClusterEnvironment.isLaunchedByMPI else { throw ValidationError("run swift-train elastic itself without mpirun: it starts mpirun") }
        guard let program = launcher.split(separator: " ").first.map(String.init) else { throw ValidationError("--launcher is empty") }
        guard ChildProcess.locate(program) != nil else {
            throw ValidationError("the launcher '\(program)' is not an executable (looked for on PATH: is Open MPI installed?)")
        }
        let train: TrainCommand
        do { train = try TrainCommand.parse(try ConfigurationFile.expand(trainArguments)) } catch {
            throw ValidationError("in the training options: " + TrainCommand.message(for: error))
        }
        let configuration = try train.makeConfiguration()
        guard configuration.checkpointDirectory != nil else {
            throw ValidationError("elastic training needs --checkpoint-dir among the training options, so that a restart resumes")
        }
        guard configuration.resume == .none else { throw ValidationError("leave --resume out: every attempt resumes with --resume auto") }
        guard train.simulateRanks == nil else { throw ValidationError("--simulate-ranks cannot be used in an elastic job") }
    }

    func run() throws {
        let train = try TrainCommand.parse(try ConfigurationFile.expand(trainArguments))
        let shards = try train.makeConfiguration().virtualShards
        var launcher = ElasticMPILauncher(
            launcher: self.launcher.split(separator: " ").map(String.init), mpirunArguments: mpirunArg,
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
            trainArguments: trainArguments, probeTimeout: probeTimeout)
        launcher.stopSignals = StopSignals()
        // Only this machine needs no probe; hostfile, script and Slurm hosts are probed before every attempt.
        let local =
            hostfile == nil && discoveryScript == nil
            && (slots != nil || ProcessInfo.processInfo.environment["SLURM_JOB_NODELIST"] == nil)
        let supervisor = ElasticSupervisor(
            maxRestarts: maxRestarts, minRanks: minRanks, virtualShards: shards,
            discover: {
                let hosts = try discoverHosts()
                try ElasticHost.checkLocalSlots(hosts)
                return hosts
            },
            isUsable: { host in local || launcher.probe(host) },
            launch: { try launcher.run($0) },
            log: { FileHandle.standardError.write(Data("swift-train elastic: \($0)\n".utf8)) })
        try supervisor.run()
    }

    /// The hosts listed now: the hostfile read again, the discovery script run again, or this machine.
    func discoverHosts() throws -> [ElasticHost] {
        if let hostfile {
            guard let text = try? String(contentsOfFile: hostfile, encoding: .utf8) else {
                throw ValidationError("cannot read the hostfile \(hostfile)")
            }
            let hosts = try ElasticHost.parseList(text, source: hostfile)
            guard !hosts.isEmpty else { throw ElasticError.noHosts(source: hostfile) }
            return hosts
        }
        if let discoveryScript {
            let data = try Self.output(of: [discoveryScript], describedAs: discoveryScript)
            let hosts = try ElasticHost.parseList(String(decoding: data, as: UTF8.self), source: discoveryScript)
            guard !hosts.isEmpty else { throw ElasticError.noHosts(source: discoveryScript) }
            return hosts
        }
        let environment = ProcessInfo.processInfo.environment
        if slots == nil, let nodeList = environment["SLURM_JOB_NODELIST"], let tasks = environment["SLURM_TASKS_PER_NODE"] {
            // Inside a Slurm allocation: its nodes and tasks per node (mpirun launches through Slurm there).
            let names = String(
                decoding: try Self.output(
                    of: ["scontrol", "show", "hostnames", nodeList],
                    describedAs: "scontrol show hostnames \(nodeList)"), as: UTF8.self
            )
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else {
                throw ElasticError.discoveryFailed(command: "scontrol show hostnames \(nodeList)", reason: "it named no node")
            }
            let counts = try ElasticHost.slurmTasksPerNode(tasks, nodes: names.count)
            return zip(names, counts).map { ElasticHost(name: $0, slots: $1) }
        }
        return [ElasticHost(name: "localhost", slots: slots ?? ProcessInfo.processInfo.activeProcessorCount)]
    }

    /// The standard output of `commandLine` (its program looked up on PATH); a failure to start or a non-zero exit
    /// is an `ElasticError.discoveryFailed` naming `description`.
    static func output(of commandLine: [String], describedAs description: String) throws -> Data {
        let run: CapturedRun
        do { run = try ChildProcess.capture(commandLine, timeout: 120) } catch {
            throw ElasticError.discoveryFailed(command: description, reason: "\(error)")
        }
        guard !run.timedOut else { throw ElasticError.discoveryFailed(command: description, reason: "it did not finish within 120 s") }
        guard run.termination.succeeded else {
            throw ElasticError.discoveryFailed(command: description, reason: run.termination.description)
        }
        return run.standardOutput
    }

}
