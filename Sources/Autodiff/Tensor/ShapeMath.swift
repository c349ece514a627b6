/// Shape arithmetic shared by the operations: axes, strides, broadcasting.
enum ShapeMath {
    /// `axis` counted from the end when negative (-1 is the last), checked against `rank`.
    static func axis(_ axis: Int, rank: Int, _ operation: String) -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        ensure(resolved >= 0 && resolved < rank, "\(operation): axis \(axis) outside a tensor of rank \(rank)")
        return resolved
    }

    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for index in shape.indices.reversed() {
            strides[index] = step
            step *= shape[index]
        }
        return strides
    }

    /// The product of the dimensions before `axis`, the dimension itself and the product after it.
    static func split(_ shape: [Int], at axis: Int) -> (outer: Int, size: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// The shape two operands broadcast to (NumPy's rule), or nil when they do not.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for index in 0..<rank {
            let x = index < rank - a.count ? 1 : a[index - (rank - a.count)]
            let y = index < rank - b.count ? 1 : b[index - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else { return nil }
            result[index] = x == 1 ? y : x
        }
        return result
    }

    /// Strides that read an operand of `shape` at the indices of `target` (0 along a repeated dimension).
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let offset = target.count - shape.count
        return target.indices.map { index in
            index < offset || shape[index - offset] == 1 ? 0 : own[index - offset]
        }
    }

    /// Calls `body(outputIndex, sourceOffset)` for every element of `shape`, the source read with `strides`.
    @inline(__always)
    static func forEach(_ shape: [Int], strides: [Int], _ body: (Int, Int) -> Void) {
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        let rank = shape.count
        if rank == 0 {
            body(0, 0)
            return
        }
        var index = [Int](repeating: 0, count: rank)
        var source = 0
        let last = rank - 1
        let lastSize = shape[last]
        let lastStride = strides[last]
        var output = 0
        while output < count {
            var offset = source
            for _ in 0..<lastSize {
                body(output, offset)
                output += 1
                offset += lastStride
            }
            var dimension = last - 1
            while dimension >= 0 {
                index[dimension] += 1
                source += strides[dimension]
                if index[dimension] < shape[dimension] { break }
                source -= strides[dimension] * shape[dimension]
                index[dimension] = 0
                dimension -= 1
            }
            if dimension < 0 { break }
        }
    }
}
