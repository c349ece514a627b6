import Testing

@testable import NeuralNet

/// A matrix packed once for a product repeated at every step of a recurrence.
@Suite("Packed panels", .serialized)
struct PackedPanelsTests {
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var random = CounterRandom(seed: seed, stream: 1)
        return (0..<count).map { _ in random.nextUniform() * 2 - 1 }
    }

    /// `a · B` (or `c + a · B`) with B read from `b` as stored or transposed, by the packed kernels.
    static func product(
        _ a: [Float], rows: Int, _ b: [Float], inner: Int, columns: Int, transposed: Bool, onto c: [Float]? = nil
    ) -> [Float] {
        var out = c ?? [Float](repeating: 0, count: rows * columns)
        b.withUnsafeBufferPointer { b in
            let panels = PackedPanels(b.baseAddress!, ldb: transposed ? inner : columns, transposed: transposed, inner: inner, columns: columns)
            a.withUnsafeBufferPointer { a in
                out.withUnsafeMutableBufferPointer { out in
                    panels.product(a.baseAddress!, lda: inner, rows: rows, into: out.baseAddress!, ldc: columns, accumulate: c != nil)
                }
            }
        }
        return out
    }

    @Test("the packed product is a · B (and c + a · B), B stored or transposed, for sizes with tails")
    func matchesTheProduct() {
        let (rows, inner, columns) = (11, 37, 53)
        let a = Self.values(rows * inner, seed: 1)
        let b = Self.values(inner * columns, seed: 2)
        let bT = (0..<(columns * inner)).map { index in b[(index % inner) * columns + index / inner] }
        let c = Self.values(rows * columns, seed: 3)
        var expected = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for col in 0..<columns {
                expected[r * columns + col] = (0..<inner).reduce(Float(0)) { $0 + a[r * inner + $1] * b[$1 * columns + col] }
            }
        }
        let close = { (x: [Float], y: [Float]) in zip(x, y).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) } }
        #expect(close(Self.product(a, rows: rows, b, inner: inner, columns: columns, transposed: false), expected))
        #expect(close(Self.product(a, rows: rows, bT, inner: inner, columns: columns, transposed: true), expected))
        let added = Self.product(a, rows: rows, b, inner: inner, columns: columns, transposed: false, onto: c)
        #expect(close(added, zip(expected, c).map { $0 + $1 }))
    }

    @Test("a row's values do not depend on the other rows of the call, and both vector instances give the same bits")
    func rowsAreIndependent() {
        let (rows, inner, columns) = (16, 64, 80)
        let a = Self.values(rows * inner, seed: 4)
        let b = Self.values(inner * columns, seed: 5)
        let whole = Self.product(a, rows: rows, b, inner: inner, columns: columns, transposed: true)
        let alone = (0..<rows).flatMap { r in
            Self.product(Array(a[(r * inner)..<((r + 1) * inner)]), rows: 1, b, inner: inner, columns: columns, transposed: true)
        }
        #expect(whole.map(\.bitPattern) == alone.map(\.bitPattern))
        let best = ShardKernels.useInstance(-1)
        defer { _ = ShardKernels.useInstance(-1) }
        if best == 2 {
            _ = ShardKernels.useInstance(1)
            #expect(Self.product(a, rows: rows, b, inner: inner, columns: columns, transposed: true).map(\.bitPattern) == whole.map(\.bitPattern))
        }
        _ = ShardKernels.useInstance(0)
        let baseline = Self.product(a, rows: rows, b, inner: inner, columns: columns, transposed: true)
        #expect(zip(baseline, whole).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }
}
