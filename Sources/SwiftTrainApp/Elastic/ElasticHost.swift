import Foundation

/// A host an elastic job may place ranks on, and how many.
public struct ElasticHost: Sendable, Equatable, CustomStringConvertible {
    /// The host's name or address, as mpirun reaches it.
    public var name: String
    /// Ranks it takes.
    public var slots: Int

    /// A host with `slots` slots.
    public init(name: String, slots: Int) {
        self.name = name
        self.slots = slots
    }

    public var description: String { "\(name) (\(slots) slot\(slots == 1 ? "" : "s"))" }

    /// Parses a host list: Open MPI hostfile lines (`node1 slots=2`) or Horovod discovery-script lines
    /// (`node1:2`); a bare name has one slot; `#` starts a comment. The order is kept: rank 0 runs on the first host.
    /// - Throws: `ElasticError.badHostList` naming the line.
    public static func parseList(_ text: String, source: String) throws -> [ElasticHost] {
        var hosts: [ElasticHost] = []
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.prefix { $0 != "#" }.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty else { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            var name = fields[0]
            var slots: Int? = 1
            // `NAME:N` (discovery scripts); an IPv6 address holds colons itself and takes `slots=N` instead.
            if fields.count == 1, let colon = name.lastIndex(of: ":"), !name[..<colon].contains(":") {
                slots = Int(name[name.index(after: colon)...])
                name = String(name[..<colon])
            }
            var maximum: Int?
            for field in fields.dropFirst() {
                if field.hasPrefix("slots=") {
                    slots = Int(field.dropFirst(6))
                } else if field.hasPrefix("max_slots=") {
                    maximum = Int(field.dropFirst(10)) ?? 0
                } else {
                    slots = nil
                }
            }
            // Open MPI's `max_slots` bounds the ranks a host takes: more slots than that is a contradiction.
            if let maximum, let given = slots, maximum < given { slots = nil }
            guard let slots, slots >= 1, slots <= maximumSlots, !name.isEmpty else {
                throw ElasticError.badHostList(source: source, line: number + 1, text: String(rawLine))
            }
            // A name goes to mpirun's --host list: a comma, a NUL or a shell character would change what it launches.
            guard isValidName(name) else {
                throw ElasticError.badHostName(source: source, line: number + 1, name: name)
            }
            if let index = hosts.firstIndex(where: { $0.name == name }) {
                hosts[index].slots += slots
                guard hosts[index].slots <= maximumSlots else {
                    throw ElasticError.tooManySlots(host: name, slots: hosts[index].slots, limit: maximumSlots)
                }
            } else {
                hosts.append(ElasticHost(name: name, slots: slots))
            }
            guard hosts.count <= maximumSlots else {
                throw ElasticError.tooManySlots(host: "\(source) (\(hosts.count) hosts)", slots: hosts.count, limit: maximumSlots)
            }
        }
        return hosts
    }

    /// The most slots one host (and one list) may have: far more than any node's cores, far fewer than a mistake's.
    public static let maximumSlots = 1024

    /// Whether `name` is a host name (letters, digits, '-', '.', '_') or an IPv4 or IPv6 address.
    public static func isValidName(_ name: String) -> Bool {
        guard name.utf8.count <= 253, let first = name.unicodeScalars.first else { return false }
        let hostCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
        let addressCharacters = CharacterSet(charactersIn: "0123456789abcdefABCDEF:.[]")
        let scalars = name.unicodeScalars
        if scalars.contains(":") { return scalars.allSatisfy(addressCharacters.contains) }
        return first != "-" && scalars.allSatisfy(hostCharacters.contains)
    }

    /// Whether the host is this machine (its ranks share this machine's cores).
    public var isLocal: Bool {
        name == "localhost" || name.hasPrefix("127.") || name == "::1" || name == ProcessInfo.processInfo.hostName
            || name == (ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "")
    }

    /// Refuses a list that would start more ranks on this machine than 8 per core (a hostfile's `slots=4096`).
    public static func checkLocalSlots(_ hosts: [ElasticHost], cores: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        let local = hosts.filter(\.isLocal).reduce(0) { $0 + $1.slots }
        guard local <= 8 * cores else {
            throw ElasticError.tooManySlots(host: "this machine", slots: local, limit: 8 * cores)
        }
    }
}

extension ElasticHost {
    /// Slots per node from Slurm's `SLURM_TASKS_PER_NODE` (`2(x3),1`: three nodes of 2 then one of 1), for `nodes` nodes.
    /// - Throws: `ElasticError.badHostList` when the text is not in that form or names another number of nodes.
    public static func slurmTasksPerNode(_ text: String, nodes: Int) throws -> [Int] {
        var counts: [Int] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "(")
            guard let tasks = Int(parts[0]), tasks >= 1 else { throw ElasticError.badHostList(source: "SLURM_TASKS_PER_NODE", line: 1, text: text) }
            var repeats = 1
            if parts.count == 2 {
                guard parts[1].hasPrefix("x"), parts[1].hasSuffix(")"), let times = Int(parts[1].dropFirst().dropLast()), times >= 1 else {
                    throw ElasticError.badHostList(source: "SLURM_TASKS_PER_NODE", line: 1, text: text)
                }
                repeats = times
            }
            counts += Array(repeating: tasks, count: repeats)
        }
        guard counts.count == nodes else { throw ElasticError.badHostList(source: "SLURM_TASKS_PER_NODE", line: 1, text: text) }
        return counts
    }
}

/// What stops an elastic job.
public enum ElasticError: Error, Equatable, CustomStringConvertible {
    case badHostList(source: String, line: Int, text: String)
    case noHosts(source: String)
    case tooFewRanks(available: Int, minimum: Int, shards: Int?)
    case restartsExhausted(attempts: Int, maxRestarts: Int, lastFailure: String)
    case discoveryFailed(command: String, reason: String)
    case badHostName(source: String, line: Int, name: String)
    case tooManySlots(host: String, slots: Int, limit: Int)
    case missingOption(String)
    case conflictingOption(String)
    case stopped(signal: Int32)
    case cannotLaunch(reason: String)

    public var description: String {
        switch self {
        case .badHostList(let source, let line, let text):
            "\(source): line \(line) '\(text)' is not a host: expected 'NAME slots=N' (a hostfile) or 'NAME:N' (discovery)"
        case .noHosts(let source): "\(source) lists no host"
        case .tooFewRanks(let available, let minimum, let shards):
            "only \(available) rank\(available == 1 ? "" : "s") can run on the usable hosts"
                + (shards.map { " (a world size dividing --virtual-shards \($0))" } ?? "") + "; --min-ranks is \(minimum)"
        case .restartsExhausted(let attempts, let maxRestarts, let lastFailure):
            "the job failed \(attempts) times, more than --max-restarts \(maxRestarts) allows; last failure: \(lastFailure)"
        case .discoveryFailed(let command, let reason): "the host discovery script \(command) failed: \(reason)"
        case .badHostName(let source, let line, let name):
            "\(source): line \(line): \(name.debugDescription) is not a host name (letters, digits, '-', '.', '_') or an address"
        case .tooManySlots(let host, let slots, let limit):
            "\(host) has \(slots) slots in all, more than the \(limit) a job may start there"
        case .missingOption(let message): message
        case .conflictingOption(let message): message
        case .cannotLaunch(let reason): "cannot start the job: \(reason)"
        case .stopped(let signal):
            "stopped by \(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"), passed on to the job; "
                + "no restart (resume later with the same command: it continues from the newest checkpoint)"
        }
    }
}
