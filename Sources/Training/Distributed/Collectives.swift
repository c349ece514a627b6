import Cluster
import Foundation

/// How values from every rank combine (Ignite's `idist.all_reduce` operations).
public enum ReductionOperation: String, Sendable, CaseIterable {
    case sum, product, min, max
}

/// Ignite's `idist` for library users: reductions of any operation, gathers and broadcasts of any `Codable` value
/// (of any length per rank), and code run on one rank alone or on one rank first. Every function is a collective:
/// each rank calls it in the same order. Values combine in rank order, so results are the same bits on every rank,
/// every run and every world (MPI, simulated or one process), and every collective runs under the communicator's
/// deadline.
extension Communicator {
    /// Each position combined over the ranks, in rank order: any numbers (Double, Float, Int, Int64, ...).
    /// - Throws: `CollectiveError.lengthMismatch` when the ranks' arrays differ in length.
    public func allReduce<Value: Numeric & Comparable & Codable>(_ values: [Value], _ operation: ReductionOperation = .sum) throws
        -> [Value]
    {
        let all = try allGather(values)
        guard all.allSatisfy({ $0.count == values.count }) else {
            throw CollectiveError.lengthMismatch(counts: all.map(\.count))
        }
        var result = all[0]
        for other in all.dropFirst() {
            for index in result.indices {
                switch operation {
                case .sum: result[index] += other[index]
                case .product: result[index] *= other[index]
                case .min: result[index] = Swift.min(result[index], other[index])
                case .max: result[index] = Swift.max(result[index], other[index])
                }
            }
        }
        return result
    }

    /// The value combined over the ranks, in rank order.
    public func allReduce<Value: Numeric & Comparable & Codable>(_ value: Value, _ operation: ReductionOperation = .sum) throws -> Value {
        try allReduce([value], operation)[0]
    }

    /// Where each rank runs (Ignite's `get_nnodes`, `get_node_rank`, `get_local_rank`, `get_nproc_per_node`), from every
    /// rank's host name: nodes are numbered in the order their first rank appears. A collective.
    public func hostLayout() throws -> HostLayout {
        let hosts = try allGather(ProcessInfo.processInfo.hostName)
        var nodes: [String] = []
        for host in hosts where !nodes.contains(host) { nodes.append(host) }
        let mine = hosts[rank]
        return HostLayout(
            nodeCount: nodes.count, nodeRank: nodes.firstIndex(of: mine)!,
            localRank: hosts[..<rank].filter { $0 == mine }.count, localSize: hosts.filter { $0 == mine }.count)
    }

    /// Every rank's value, by rank (values may differ in size: arrays of other lengths, strings, structures).
    public func allGather<Value: Codable>(_ value: Value) throws -> [Value] {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let bytes = Array(try encoder.encode([value]))
        let gathered = size > 1 ? try allGather(bytes: bytes) : [bytes]
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try gathered.map { try decoder.decode([Value].self, from: Data($0))[0] }
    }

    /// `root`'s value on every rank (the others pass nil, or any value, which is ignored).
    /// - Throws: `CollectiveError.nothingToBroadcast` on every rank when `root` passes nil.
    public func broadcast<Value: Codable>(_ value: Value?, from root: Int = 0) throws -> Value {
        var bytes: [UInt8] = []
        if rank == root { bytes = Array(try JSONEncoder().encode(value.map { [$0] } ?? [])) }
        if size > 1 { try broadcast(bytes: &bytes, root: root) }
        let decoded = try JSONDecoder().decode([Value].self, from: Data(bytes))
        guard let first = decoded.first else { throw CollectiveError.nothingToBroadcast(root: root) }
        return first
    }

    /// Runs `body` on `rank` alone (Ignite's `one_rank_only`); the others get nil. With `barrier`, every rank
    /// returns only once it has finished. A failure on that rank is thrown there, and (with `barrier`) on the others.
    public func oneRankOnly<Result>(rank chosen: Int = 0, barrier: Bool = false, _ body: () throws -> Result) throws -> Result? {
        var outcome: Swift.Result<Result, any Error>?
        if rank == chosen { outcome = Swift.Result { try body() } }
        if barrier { try agree(on: outcome, from: chosen) }
        return try outcome?.get()
    }

    /// Runs `body` on `rank` first and on the other ranks once it has finished (Ignite's `one_rank_first`): a
    /// download or a cache that one rank fills for all. A failure there is thrown on every rank, and the others do
    /// not run `body`.
    public func oneRankFirst<Result>(rank chosen: Int = 0, _ body: () throws -> Result) throws -> Result {
        var outcome: Swift.Result<Result, any Error>?
        if rank == chosen { outcome = Swift.Result { try body() } }
        try agree(on: outcome, from: chosen)
        if let outcome { return try outcome.get() }
        return try body()
    }

    /// Every rank learns whether `chosen` succeeded: throws on the others when it failed (after its own error).
    private func agree<Result>(on outcome: Swift.Result<Result, any Error>?, from chosen: Int) throws {
        var message: String?
        if case .failure(let error)? = outcome { message = String(describing: error) }
        let failure: String? = size > 1 ? try broadcast(message.map { [$0] } ?? [], from: chosen).first : message
        if let failure, rank != chosen { throw CollectiveError.failedOnRank(chosen, failure) }
    }
}

/// Where a rank runs among the job's hosts.
public struct HostLayout: Sendable, Equatable {
    /// Hosts the job spans.
    public var nodeCount: Int
    /// This rank's host, numbered in the order the hosts' first ranks appear.
    public var nodeRank: Int
    /// This rank among the ranks of its host, in rank order.
    public var localRank: Int
    /// Ranks on this rank's host.
    public var localSize: Int

    /// A layout, as `Communicator.hostLayout()` finds it.
    public init(nodeCount: Int, nodeRank: Int, localRank: Int, localSize: Int) {
        (self.nodeCount, self.nodeRank, self.localRank, self.localSize) = (nodeCount, nodeRank, localRank, localSize)
    }
}

/// A collective the ranks could not complete together.
public enum CollectiveError: Error, Equatable, CustomStringConvertible {
    case lengthMismatch(counts: [Int])
    case nothingToBroadcast(root: Int)
    case failedOnRank(Int, String)

    public var description: String {
        switch self {
        case .lengthMismatch(let counts): "the ranks reduce arrays of different lengths: \(counts)"
        case .nothingToBroadcast(let root): "rank \(root) had no value to broadcast"
        case .failedOnRank(let rank, let message): "rank \(rank) failed: \(message)"
        }
    }
}
