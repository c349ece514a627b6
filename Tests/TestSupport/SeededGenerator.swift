import Foundation

/// A small deterministic random generator (SplitMix64) for test data, independent of the code under test.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1).
    public mutating func nextUniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A standard normal Double (Box-Muller).
    public mutating func nextGaussian() -> Double {
        let u = max(nextUniform(), 1e-12)
        let v = nextUniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
