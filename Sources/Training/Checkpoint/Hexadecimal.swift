import Foundation

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits per byte: how checkpoints, records and summaries print SHA-256 digests.
    package var hexadecimal: String { map { String(format: "%02x", $0) }.joined() }
}
