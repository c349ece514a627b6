import CMPI
import Foundation

/// The world of an mpirun job (or an MPI singleton): collectives over Open MPI, shared memory or TCP.
///
/// The only type that calls MPI. MPI is initialised once per process (thread level funneled: every MPI
/// call comes from the thread that initialised it, which is the training loop's). Every status code goes
/// through `check`, which throws `ClusterError.mpi` with MPI's own message.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    // @unchecked Sendable: MPI handles are plain pointers; the invariant is that the communicator is used
    // only from the thread that initialised MPI.
    public let rank: Int
    public let size: Int
    /// Whether this world's sums are formed in a fixed rank order or MPI's fastest.
    public let reductionOrder: ReductionOrder
    /// When set, every collective must complete within this many seconds: past it, a watchdog thread calls
    /// `deadlineExpired` and ends this rank with exit code 1 (mpirun then ends the job), since a peer that is alive
    /// but stuck would otherwise hang every rank forever, and a blocking MPI call cannot be unwound by an error. The
    /// collectives stay MPI's blocking calls, so the deadline costs nothing while they run. Setting it is the
    /// application's decision to end the process then.
    public var collectiveTimeout: Double? {
        didSet { if collectiveTimeout != nil { Watchdog.shared.start() } }
    }
    /// Told the rank and what happened (which collective, how late) just before the watchdog ends the process: the
    /// application reports it its own way.
    public static var deadlineExpired: @Sendable (_ rank: Int, _ message: String) -> Void {
        get { Watchdog.shared.report }
        set { Watchdog.shared.report = newValue }
    }
    private let world: MPI_Comm
    private var pairwiseScratch: [Float] = []
    private nonisolated(unsafe) static var shared: MPICommunicator?

    private init(world: MPI_Comm, rank: Int, size: Int, reductionOrder: ReductionOrder) {
        self.world = world
        self.rank = rank
        self.size = size
        self.reductionOrder = reductionOrder
    }

    /// Whether mpirun started this process (it sets OMPI_COMM_WORLD_SIZE or PMIX_RANK).
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Initialises MPI (once per process) and returns the world communicator.
    public static func initialize(reductionOrder: ReductionOrder = .fast) throws -> MPICommunicator {
        if let shared { return shared }
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        }
        let world = cmpi_comm_world()!
        try check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0
        var size: Int32 = 0
        try check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(world, &size), "MPI_Comm_size")
        let communicator = MPICommunicator(world: world, rank: Int(rank), size: Int(size), reductionOrder: reductionOrder)
        shared = communicator
        return communicator
    }

    /// Ends MPI for this process; call once, after the last collective.
    public func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    static func check(_ code: Int32, _ function: String) throws {
        guard code != MPI_SUCCESS else { return }
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        let message = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw ClusterError.mpi(function: function, code: code, message: message)
    }

    /// Runs a blocking collective under the watchdog's deadline when one is set.
    private func watched(_ name: String, _ call: () -> Int32) throws {
        guard let timeout = collectiveTimeout else {
            try Self.check(call(), name)
            return
        }
        Watchdog.shared.arm(name: name, rank: rank, seconds: timeout)
        defer { Watchdog.shared.disarm() }
        try Self.check(call(), name)
    }

    /// Waits for `request`, under the watchdog's deadline when `timeout` is set.
    static func wait(_ request: inout MPI_Request?, name: String, timeout: Double?, communicator: MPICommunicator) throws {
        if let timeout { Watchdog.shared.arm(name: name, rank: communicator.rank, seconds: timeout) }
        defer { if timeout != nil { Watchdog.shared.disarm() } }
        try check(MPI_Wait(&request, cmpi_status_ignore()), name)
    }

    private func count(_ value: Int) -> Int32 {
        precondition(value <= Int32.max, "MPI counts are 32-bit: \(value) elements is too many for one call")
        return Int32(value)
    }

    // MARK: - Reductions

    private func sum<T: AdditiveArithmetic>(_ buffer: UnsafeMutableBufferPointer<T>, type: MPI_Datatype) throws {
        guard size > 1, buffer.count > 0 else { return }
        switch reductionOrder {
        case .fast:
            try watched("MPI_Allreduce") {
                MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, count(buffer.count), type, cmpi_op_sum(), world)
            }
        case .fixedRankOrder:
            try fixedOrderSum(buffer, type: type)
        }
    }

    /// Gathers every rank's buffer, then sums them in rank order on every rank: deterministic whatever
    /// algorithm MPI would pick, and bit-identical to a simulated world.
    private func fixedOrderSum<T: AdditiveArithmetic>(_ buffer: UnsafeMutableBufferPointer<T>, type: MPI_Datatype) throws {
        let n = buffer.count
        let all = UnsafeMutableBufferPointer<T>.allocate(capacity: n * size)
        defer { all.deallocate() }
        try gatherEveryRank(buffer, type: type, into: all.baseAddress!)
        for index in 0..<n { buffer[index] = all[index] }
        for other in 1..<size {
            let base = other * n
            for index in 0..<n { buffer[index] += all[base + index] }
        }
    }

    /// Every rank's `buffer`, one after another in rank order, into `all` (world size x buffer count values).
    private func gatherEveryRank<T>(_ buffer: UnsafeMutableBufferPointer<T>, type: MPI_Datatype, into all: UnsafeMutablePointer<T>) throws {
        try watched("MPI_Allgather") {
            MPI_Allgather(buffer.baseAddress, count(buffer.count), type, all, count(buffer.count), type, world)
        }
    }

    /// Sums `values` element-wise over every rank, in place.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try sum(buffer, type: cmpi_float()) }
    /// Sums `values` element-wise over every rank, in place.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try sum(buffer, type: cmpi_double()) }
    /// Sums `values` element-wise over every rank, in place.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws { try sum(buffer, type: cmpi_int64()) }

    /// How `allReduceSumPairwise` exchanges the partial sums (both give the same bits; see B8 for which is faster).
    public enum PairwiseAlgorithm: Sendable {
        /// log2(world) rounds of MPI_Sendrecv with the rank whose number differs in one bit; each adds the two.
        case recursiveDoubling
        /// One MPI_Allgather of every rank's buffer, then every rank sums them in the tree's order.
        case gatherThenSum
    }

    /// The algorithm of `allReduceSumPairwise`.
    public var pairwiseAlgorithm = PairwiseAlgorithm.recursiveDoubling

    /// Sums `values` over every rank in a fixed pairwise order: the same bits on every run.
    public func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try pairwise(buffer, type: cmpi_float(), scratch: &pairwiseScratch)
    }

    /// Sums `values` over every rank in a fixed pairwise order: the same bits on every run.
    public func allReduceSumPairwise(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        var scratch: [Double] = []
        try pairwise(buffer, type: cmpi_double(), scratch: &scratch)
    }

    private func pairwise<T: AdditiveArithmetic>(_ buffer: UnsafeMutableBufferPointer<T>, type: MPI_Datatype, scratch: inout [T]) throws {
        guard size > 1, buffer.count > 0 else { return }
        guard size & (size - 1) == 0 else { throw ClusterError.worldNotPowerOfTwo(size) }
        let n = buffer.count
        switch pairwiseAlgorithm {
        case .recursiveDoubling:
            if scratch.count < n { scratch = Array(repeating: .zero, count: n) }
            try scratch.withUnsafeMutableBufferPointer { received in
                var distance = 1
                while distance < size {
                    let partner = Int32(rank ^ distance)
                    try watched("MPI_Sendrecv") {
                        MPI_Sendrecv(
                            buffer.baseAddress, count(n), type, partner, 7,
                            received.baseAddress, count(n), type, partner, 7, world, cmpi_status_ignore())
                    }
                    // The lower block's sum plus the upper block's: addition commutes, so both partners get the same bits.
                    for index in 0..<n { buffer[index] += received[index] }
                    distance <<= 1
                }
            }
        case .gatherThenSum:
            let needed = n * (size + size / 2)
            if scratch.count < needed { scratch = Array(repeating: .zero, count: needed) }
            try scratch.withUnsafeMutableBufferPointer { all in
                let base = all.baseAddress!
                try gatherEveryRank(buffer, type: type, into: base)
                pairwiseTreeSum(
                    (0..<size).map { UnsafePointer(base + $0 * n) }, count: n, into: buffer.baseAddress!,
                    scratch: base + size * n)
            }
        }
    }

    /// Starts a non-blocking sum of `values` over every rank.
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        guard size > 1, buffer.count > 0, reductionOrder == .fast else {
            try allReduceSum(buffer)
            return CompletedReduction()
        }
        var request = cmpi_request_null()
        try Self.check(
            MPI_Iallreduce(
                cmpi_in_place(), buffer.baseAddress, count(buffer.count), cmpi_float(), cmpi_op_sum(),
                world, &request), "MPI_Iallreduce")
        return MPIPendingReduction(request: request, communicator: self)
    }

    // MARK: - Broadcast, gather, barrier, abort

    /// Copies rank `root`'s values to every rank.
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard (0..<size).contains(root) else { throw ClusterError.invalidRoot(root, size: size) }
        guard size > 1, buffer.count > 0 else { return }
        try watched("MPI_Bcast") { MPI_Bcast(buffer.baseAddress, count(buffer.count), cmpi_byte(), Int32(root), world) }
    }

    /// Copies rank `root`'s bytes to every rank.
    public func broadcast(bytes: inout [UInt8], root: Int) throws {
        guard (0..<size).contains(root) else { throw ClusterError.invalidRoot(root, size: size) }
        guard size > 1 else { return }
        var length = Int64(bytes.count)
        try withUnsafeMutableBytes(of: &length) { try broadcast($0, root: root) }
        if rank != root { bytes = Array(repeating: 0, count: Int(length)) }
        if length > 0 {
            try bytes.withUnsafeMutableBytes { raw in try broadcast(raw, root: root) }
        }
    }

    /// Every rank's value, by rank.
    public func allGather(_ value: Int64) throws -> [Int64] {
        guard size > 1 else { return [value] }
        var value = value
        var result = Array(repeating: Int64(0), count: size)
        try watched("MPI_Allgather") { MPI_Allgather(&value, 1, cmpi_int64(), &result, 1, cmpi_int64(), world) }
        return result
    }

    /// Every rank's bytes, by rank.
    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        let lengths = try allGather(Int64(bytes.count)).map { Int($0) }
        var displacements: [Int32] = []
        var offset = 0
        for length in lengths {
            displacements.append(count(offset))
            offset += length
        }
        var all = Array(repeating: UInt8(0), count: offset)
        let counts = lengths.map { count($0) }
        try watched("MPI_Allgatherv") {
            MPI_Allgatherv(bytes, count(bytes.count), cmpi_byte(), &all, counts, displacements, cmpi_byte(), world)
        }
        return lengths.indices.map { index in
            Array(all[Int(displacements[index])..<(Int(displacements[index]) + lengths[index])])
        }
    }

    /// Returns once every rank has called it.
    public func barrier() throws {
        try watched("MPI_Barrier") { MPI_Barrier(world) }
    }

    /// Prints `message` and ends every rank of the job (MPI_Abort), never returning.
    public func abort(exitCode: Int32) -> Never {
        MPI_Abort(world, exitCode)
        exit(exitCode)
    }
}

/// A non-blocking all-reduce of MPI.
final class MPIPendingReduction: PendingReduction {
    private var request: MPI_Request?
    private var done = false
    private let communicator: MPICommunicator

    init(request: MPI_Request?, communicator: MPICommunicator) {
        self.request = request
        self.communicator = communicator
    }

    func isComplete() throws -> Bool {
        if done { return true }
        var flag: Int32 = 0
        try MPICommunicator.check(MPI_Test(&request, &flag, cmpi_status_ignore()), "MPI_Test")
        done = flag != 0
        return done
    }

    func wait() throws {
        if done { return }
        try MPICommunicator.wait(&request, name: "MPI_Iallreduce", timeout: communicator.collectiveTimeout, communicator: communicator)
        done = true
    }
}
