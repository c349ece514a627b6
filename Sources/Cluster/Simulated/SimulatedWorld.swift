import Foundation

/// N ranks in one process, one thread each, for running and debugging distributed logic without mpirun.
///
/// Collectives meet at a shared barrier and always sum in rank order, so a simulated world of N ranks and
/// `mpirun -n N` with `.fixedRankOrder` produce the same bits. If one rank throws, every rank waiting in
/// (or later entering) a collective fails promptly with `ClusterError.peerFailed`: no hang.
public final class SimulatedWorld: @unchecked Sendable {
    /// Number of ranks.
    public let size: Int
    let hub: SimulatedHub

    /// A world of `size` ranks (sums are always in fixed rank order).
    public init(size: Int) {
        precondition(size > 0, "a world needs at least one rank")
        self.size = size
        hub = SimulatedHub(size: size)
    }

    /// Runs `body` on every rank, each on its own thread; returns the results by rank.
    /// - Throws: `ClusterError.rankFailed` naming the first rank that failed and its error.
    public func run<T>(_ body: @escaping @Sendable (any Communicator) throws -> T) throws -> [T] {
        let outcomes = OutcomeTable<T>(size: size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread { [hub] in
                defer { done.leave() }
                let communicator = SimulatedCommunicator(rank: rank, hub: hub)
                do {
                    outcomes.set(rank, .success(try body(communicator)))
                } catch {
                    hub.fail(rank: rank)
                    outcomes.set(rank, .failure(error))
                }
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        done.wait()
        if let rank = hub.firstFailedRank, case .failure(let error)? = outcomes.get(rank) {
            throw ClusterError.rankFailed(rank: rank, message: String(describing: error))
        }
        return try (0..<size).map { try outcomes.get($0)!.get() }
    }
}

/// Results of the ranks' threads, guarded by a lock.
final class OutcomeTable<T>: @unchecked Sendable {
    private var outcomes: [Result<T, any Error>?]
    private let lock = NSLock()
    init(size: Int) { outcomes = Array(repeating: nil, count: size) }
    func set(_ rank: Int, _ outcome: Result<T, any Error>) { lock.withLock { outcomes[rank] = outcome } }
    func get(_ rank: Int) -> Result<T, any Error>? { lock.withLock { outcomes[rank] } }
}

/// The meeting point of a simulated world's ranks: a reusable barrier and per-rank deposit slots.
///
/// Invariant: slots are written only by their own rank before a barrier and read by others only between
/// that barrier and the next one.
final class SimulatedHub: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private(set) var firstFailedRank: Int?
    /// Per-rank slots, allocated once: each rank writes only its own element.
    let pointers: UnsafeMutableBufferPointer<UnsafeMutableRawPointer?>
    let counts: UnsafeMutableBufferPointer<Int>
    let values: UnsafeMutableBufferPointer<Int64>
    private var byteSlots: [[UInt8]]
    private let slotLock = NSLock()

    init(size: Int) {
        self.size = size
        pointers = .allocate(capacity: size)
        pointers.initialize(repeating: nil)
        counts = .allocate(capacity: size)
        counts.initialize(repeating: 0)
        values = .allocate(capacity: size)
        values.initialize(repeating: 0)
        byteSlots = Array(repeating: [], count: size)
    }

    deinit {
        pointers.deallocate()
        counts.deallocate()
        values.deallocate()
    }

    /// Deposits `bytes` in `rank`'s slot.
    func setBytes(_ bytes: [UInt8], rank: Int) { slotLock.withLock { byteSlots[rank] = bytes } }
    /// The bytes in `rank`'s slot.
    func bytes(rank: Int) -> [UInt8] { slotLock.withLock { byteSlots[rank] } }
    /// Every slot's bytes.
    var allBytes: [[UInt8]] { slotLock.withLock { byteSlots } }

    /// Waits until every rank has arrived; throws if a rank has failed.
    func barrier() throws {
        condition.lock()
        defer { condition.unlock() }
        if let failed = firstFailedRank { throw ClusterError.peerFailed(rank: failed) }
        let myGeneration = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
            return
        }
        while generation == myGeneration {
            if let failed = firstFailedRank { throw ClusterError.peerFailed(rank: failed) }
            condition.wait()
        }
    }

    /// Records that `rank` failed and wakes every waiting rank.
    func fail(rank: Int) {
        condition.lock()
        if firstFailedRank == nil { firstFailedRank = rank }
        condition.broadcast()
        condition.unlock()
    }
}
