import Foundation

/// A counter-based random generator: draw `n` of a stream is a pure function of (seed, stream, n).
///
/// Built on SplitMix64's finaliser over a keyed Weyl sequence, so any draw can be reproduced without
/// replaying the ones before it, and two streams with different keys are independent for our purposes.
/// The same bits on every run and every machine. Conforms to `RandomNumberGenerator`, so it also drives
/// the standard library's shuffles and random values.
public struct CounterRandom: RandomNumberGenerator, Sendable, Equatable {
    /// The stream's key, derived from the seed and the stream identifier.
    public let key: UInt64
    /// The index of the next draw; saving and restoring it resumes the stream exactly.
    public var counter: UInt64

    /// The stream `stream` of generator `seed`, at its first draw.
    public init(seed: UInt64, stream: UInt64, counter: UInt64 = 0) {
        key = Self.mix(seed ^ Self.mix(stream &+ 0x632B_E59B_D9B4_E019))
        self.counter = counter
    }

    /// The finaliser of SplitMix64: a bijective 64-bit mix.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Draw number `index` of this stream, without moving the counter.
    @inlinable
    public func value(at index: UInt64) -> UInt64 {
        Self.mix(key &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        defer { counter &+= 1 }
        return value(at: counter)
    }

    /// The next 64 random bits (the name the other draws read as).
    @inlinable
    public mutating func nextUInt64() -> UInt64 { next() }

    /// A uniform Float in [0, 1) with 24 random bits.
    @inlinable
    public mutating func nextUniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// A uniform Double in [0, 1) with 53 random bits.
    @inlinable
    public mutating func nextUniformDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal Float (Box-Muller, one value per two draws).
    public mutating func nextNormal() -> Float {
        let u = max(nextUniformDouble(), 0x1p-53)
        let v = nextUniformDouble()
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }

    /// True with probability `probability`.
    @inlinable
    public mutating func nextBernoulli(probability: Float) -> Bool { nextUniform() < probability }

    /// A uniform integer in `0..<bound` (multiply-shift; the same value on every machine).
    @inlinable
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A permutation of `0..<count` drawn by Fisher-Yates from stream (seed, stream).
    public static func permutation(count: Int, seed: UInt64, stream: UInt64) -> [Int] {
        var random = CounterRandom(seed: seed, stream: stream)
        var order = Array(0..<count)
        if count < 2 { return order }
        for index in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(index, random.nextInt(below: index + 1))
        }
        return order
    }

    /// A stream identifier derived from `key` and one number, without allocating (for per-step keys on hot paths).
    @inlinable
    public static func derive(_ key: UInt64, _ part: UInt64) -> UInt64 {
        mix(key ^ mix(part &+ 0x9E37_79B9_7F4A_7C15))
    }

    /// A stream identifier from a purpose ("init", "dropout", "sampler") and numbers (epoch, iteration, rank).
    public static func streamKey(purpose: String, _ parts: UInt64...) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in purpose.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        for part in parts { hash = derive(hash, part) }
        return hash
    }
}
