import Cluster
import Foundation
import Training

/// Ranks started with different options would hang in a collective, crash inside MPI or diverge silently:
/// before anything else, every rank shares its options and all refuse a mismatch, naming the option and the ranks.
enum ConfigurationAgreement {
    /// One collective: throws on every rank when any rank's options differ from rank 0's (rank 0 prints it).
    static func check(_ configuration: TrainingConfiguration, communicator: any Communicator) throws {
        guard communicator.size > 1 else { return }
        let mine = Dictionary(configuration.options.map { ($0.key, $0.text) }, uniquingKeysWith: { a, _ in a })
        let gathered = try communicator.allGather(bytes: Array(try JSONEncoder().encode(mine)))
        let all = try gathered.map { try JSONDecoder().decode([String: String].self, from: Data($0)) }
        var differences: [String] = []
        for (rank, other) in all.enumerated().dropFirst() where other != all[0] {
            for key in TrainingConfiguration.CodingKeys.allCases.map(\.rawValue) where all[0][key] != other[key] {
                differences.append("--\(key) is \(all[0][key] ?? "not set") on rank 0 but \(other[key] ?? "not set") on rank \(rank)")
            }
        }
        guard !differences.isEmpty else { return }
        if communicator.rank == 0 {
            throw AgreedFailure.report("the ranks were started with different options: " + differences.joined(separator: "; "))
        }
        throw AgreedFailure.silent
    }
}
