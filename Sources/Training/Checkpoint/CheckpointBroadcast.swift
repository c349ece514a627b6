import Cluster
import EngineCore
import Foundation

extension CheckpointFile {
    /// The checkpoint at `url`, read and verified by rank 0 alone and sent to every rank, which decode the same bytes
    /// (no shared file system needed). A collective: a file missing or corrupt on rank 0 is an error on every rank,
    /// rank 0's own and the others' naming it, so no rank is left waiting in another collective.
    public static func readOnRoot(_ url: URL, communicator: any Communicator) throws -> StateDict {
        var payload: [UInt8] = []
        var rootTree: StateDict?
        var rootError: (any Error)?
        if communicator.rank == 0 {
            do {
                let bytes = try read(bytesAt: url)
                rootTree = try decode(bytes, source: url.path)
                payload = [1] + bytes
            } catch {
                rootError = error
                payload = [0] + Array(String(describing: error).utf8)
            }
        }
        if communicator.size > 1 { try communicator.broadcast(bytes: &payload, root: 0) }
        if let rootError { throw rootError }
        if let rootTree { return rootTree }
        guard payload.first == 1 else {
            throw CheckpointError.unreadable(path: url.path, reason: "rank 0: " + String(decoding: payload.dropFirst(), as: UTF8.self))
        }
        return try decode(Array(payload.dropFirst()), source: url.path)
    }
}
