import Foundation

/// The built-in data set: small grayscale images of the digits 0-9, drawn as strokes with a random
/// shift, scale, rotation, shear, stroke width and pixel noise. Needs no download; deterministic given
/// the generator.
public enum GlyphDataset {
    /// Polylines of each digit in a unit box (x to the right, y downwards).
    static let strokes: [[[(Double, Double)]]] = [
        [ellipse(center: (0.5, 0.5), radii: (0.28, 0.38))],
        [[(0.35, 0.25), (0.52, 0.1), (0.52, 0.9)]],
        [[(0.22, 0.3), (0.32, 0.14), (0.5, 0.1), (0.7, 0.15), (0.78, 0.3), (0.7, 0.5), (0.22, 0.9), (0.8, 0.9)]],
        [
            [
                (0.22, 0.15), (0.68, 0.13), (0.78, 0.28), (0.68, 0.45), (0.42, 0.5), (0.7, 0.55), (0.8, 0.7),
                (0.68, 0.87), (0.22, 0.86)
            ]
        ],
        [[(0.68, 0.9), (0.68, 0.1), (0.2, 0.65), (0.84, 0.65)]],
        [[(0.78, 0.1), (0.28, 0.1), (0.24, 0.46), (0.6, 0.42), (0.78, 0.6), (0.68, 0.85), (0.22, 0.86)]],
        [[(0.7, 0.1), (0.42, 0.28), (0.26, 0.58), (0.3, 0.84), (0.56, 0.9), (0.74, 0.72), (0.6, 0.52), (0.3, 0.58)]],
        [[(0.2, 0.1), (0.8, 0.1), (0.42, 0.9)], [(0.38, 0.5), (0.68, 0.5)]],
        [ellipse(center: (0.5, 0.29), radii: (0.21, 0.19)), ellipse(center: (0.5, 0.7), radii: (0.26, 0.21))],
        [ellipse(center: (0.48, 0.33), radii: (0.24, 0.22)), [(0.72, 0.33), (0.68, 0.9)]]
    ]

    static func ellipse(center: (Double, Double), radii: (Double, Double)) -> [(Double, Double)] {
        (0...20).map { step in
            let angle = Double(step) / 20 * 2 * Double.pi
            return (center.0 + radii.0 * cos(angle), center.1 + radii.1 * sin(angle))
        }
    }

    /// `count` samples of `size x size` pixels, classes in turn (0, 1, ..., 9, 0, ...).
    public static func generate(count: Int, using generator: inout some RandomNumberGenerator, size: Int = 16) -> Dataset {
        precondition(count > 0 && size >= 8, "need samples of at least 8 x 8")
        var features = [Float](repeating: 0, count: count * size * size)
        var labels = [Int32](repeating: 0, count: count)
        func uniform(_ low: Double, _ high: Double) -> Double {
            low + (high - low) * Double(generator.next() >> 11) * 0x1p-53
        }
        for sample in 0..<count {
            let digit = sample % 10
            labels[sample] = Int32(digit)
            let side = Double(size)
            let scale = uniform(0.7, 0.95) * side
            let angle = uniform(-0.22, 0.22)
            let shear = uniform(-0.2, 0.2)
            let shift = (uniform(-1.5, 1.5) + side * 0.5, uniform(-1.5, 1.5) + side * 0.5)
            let width = uniform(0.9, 2.0)
            let (c, s) = (cos(angle), sin(angle))
            func place(_ point: (Double, Double)) -> (Double, Double) {
                let x = (point.0 - 0.5) + shear * (point.1 - 0.5)
                let y = point.1 - 0.5
                return (shift.0 + scale * (c * x - s * y), shift.1 + scale * (s * x + c * y))
            }
            var segments: [((Double, Double), (Double, Double))] = []
            for line in strokes[digit] {
                let points = line.map(place)
                for index in 1..<points.count { segments.append((points[index - 1], points[index])) }
            }
            let base = sample * size * size
            for row in 0..<size {
                for column in 0..<size {
                    let p = (Double(column) + 0.5, Double(row) + 0.5)
                    var nearest = Double.infinity
                    for (a, b) in segments { nearest = min(nearest, distance(p, a, b)) }
                    let ink = min(max(width / 2 + 0.5 - nearest, 0), 1)
                    let noisy = ink + 0.1 * (uniform(0, 1) + uniform(0, 1) + uniform(0, 1) - 1.5)
                    features[base + row * size + column] = Float(min(max(noisy, 0), 1))
                }
            }
        }
        return Dataset(
            features: features, featureCount: size * size, labels: labels,
            classNames: (0..<10).map(String.init), sampleShape: [1, size, size])
    }

    private static func distance(_ p: (Double, Double), _ a: (Double, Double), _ b: (Double, Double)) -> Double {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1)
        let length = dx * dx + dy * dy
        let t = length > 0 ? min(max(((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length, 0), 1) : 0
        let (x, y) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1)
        return (x * x + y * y).squareRoot()
    }
}
