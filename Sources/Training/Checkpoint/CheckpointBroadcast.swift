import Cluster
import EngineCore
import Foundation

extension CheckpointFile {
    /// The checkpoint at `url`, read and verified by rank 0 alone and sent to every rank, which decode the same bytes
    /// (no shared file system needed). A collective: a file missing or corrupt on rank 0 is an error on every rank,
    /// rank 0's own and the others' naming it, so no rank is left waiting in another collective.
    public static func readOnRoot(_ url: URL, communicator: any Communicator) throws -> StateDict {
        let shared = try shareFromRoot(communicator, source: url.path) {
            let bytes = try read(bytesAt: url)
            return (url, bytes, try decode(bytes, source: url.path))
        }
        guard let shared else { throw CheckpointError.unreadable(path: url.path, reason: "rank 0 found no file") }
        return shared.state
    }

    /// The newest checkpoint in `directory` that verifies, as rank 0 finds it, on every rank (nil everywhere when
    /// there is none): what a resume on any world size starts from, without a shared file system. Rank 0 verifies
    /// each file once and keeps the chosen one's decoded state; every other rank decodes its bytes once. A collective.
    /// - Parameter skipped: called on rank 0 with each newer file skipped because it does not verify, and its error.
    public static func newestOnRoot(
        in directory: URL, communicator: any Communicator, skipped: ((URL, any Error)) -> Void = { _ in }
    ) throws -> (url: URL, state: StateDict)? {
        try shareFromRoot(communicator, source: directory.path) {
            let found = Checkpoint.newestValid(in: directory)
            found.skipped.forEach(skipped)
            return found.checkpoint
        }
    }

    /// Runs `load` on rank 0 and gives every rank its result: rank 0's own decoded state, the others' decoded from the
    /// broadcast bytes. An error on rank 0 is thrown on every rank.
    private static func shareFromRoot(
        _ communicator: any Communicator, source: String, _ load: () throws -> (url: URL, bytes: [UInt8], state: StateDict)?
    ) throws -> (url: URL, state: StateDict)? {
        var payload: [UInt8] = []
        var rootResult: Result<(url: URL, state: StateDict)?, any Error>?
        if communicator.rank == 0 {
            do {
                let found = try load()
                rootResult = .success(found.map { ($0.url, $0.state) })
                if let found {
                    let path = Array(found.url.path.utf8)
                    payload = [1] + withUnsafeBytes(of: UInt64(path.count).littleEndian, Array.init) + path + found.bytes
                } else {
                    payload = [2]
                }
            } catch {
                rootResult = .failure(error)
                payload = [0] + Array(String(describing: error).utf8)
            }
        }
        if communicator.size > 1 { try communicator.broadcast(bytes: &payload, root: 0) }
        if let rootResult { return try rootResult.get() }
        switch payload.first {
        case 1 where payload.count >= 9:
            let length = Int(payload[1..<9].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
            guard length <= payload.count - 9 else { break }
            let url = URL(fileURLWithPath: String(decoding: payload[9..<9 + length], as: UTF8.self))
            return (url, try decode(Array(payload[(9 + length)...]), source: url.path))
        case 2: return nil
        default: break
        }
        throw CheckpointError.unreadable(path: source, reason: "rank 0: " + String(decoding: payload.dropFirst(), as: UTF8.self))
    }
}
