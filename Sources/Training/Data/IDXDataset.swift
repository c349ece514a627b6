import Foundation

/// Loads MNIST's IDX files: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-*`, each gzipped
/// (`.gz`) or not. Magic numbers (2051 images, 2049 labels), dimensions and lengths are checked; pixels are
/// scaled to [0, 1] and samples have shape [1, rows, columns].
public enum IDXDataset {
    /// Which pair of files.
    public enum Split: String, Sendable {
        case train
        case test = "t10k"
    }

    /// The images and labels of `split` in `directory`.
    public static func load(directory: String, split: Split) throws -> Dataset {
        let imagesPath = try locate(directory, "\(split.rawValue)-images-idx3-ubyte")
        let labelsPath = try locate(directory, "\(split.rawValue)-labels-idx1-ubyte")
        let imageHeader = try header(try read(imagesPath, limit: 16), path: imagesPath, magic: 2051, dimensions: 3)
        let labelHeader = try header(try read(labelsPath, limit: 8), path: labelsPath, magic: 2049, dimensions: 1)
        let (count, rows, columns) = (imageHeader[0], imageHeader[1], imageHeader[2])
        guard labelHeader[0] == count else {
            throw DatasetError.badIDX(path: labelsPath, reason: "\(labelHeader[0]) labels for \(count) images")
        }
        guard rows > 0, columns > 0, count > 0 else {
            throw DatasetError.badIDX(path: imagesPath, reason: "empty dimensions \(count) x \(rows) x \(columns)")
        }
        let (pixels, pixelOverflow) = rows.multipliedReportingOverflow(by: columns)
        let (imageBytes, imageOverflow) = count.multipliedReportingOverflow(by: pixels)
        guard !pixelOverflow, !imageOverflow, imageBytes <= Int(Int32.max) else {
            throw DatasetError.badIDX(path: imagesPath, reason: "dimensions \(count) x \(rows) x \(columns) are too large")
        }
        // Only the declared bytes are read (and inflated): trailing data or a gzip bomb costs nothing more.
        let images = try read(imagesPath, limit: 16 + imageBytes)
        let labels = try read(labelsPath, limit: 8 + count)
        guard images.count >= 16 + count * pixels else {
            throw DatasetError.badIDX(path: imagesPath, reason: "truncated: \(images.count) bytes for \(count) images of \(rows) x \(columns)")
        }
        guard labels.count >= 8 + count else {
            throw DatasetError.badIDX(path: labelsPath, reason: "truncated: \(labels.count) bytes for \(count) labels")
        }
        let features = images[16..<(16 + count * pixels)].map { Float($0) / 255 }
        let rawLabels = labels[8..<(8 + count)].map { Int32($0) }
        let classCount = Int(rawLabels.max() ?? 0) + 1
        return Dataset(
            features: features, featureCount: pixels, labels: rawLabels,
            classNames: (0..<max(classCount, 10)).map(String.init), sampleShape: [1, rows, columns])
    }

    private static func locate(_ directory: String, _ name: String) throws -> String {
        let plain = (directory as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: plain) { return plain }
        let gzipped = plain + ".gz"
        if FileManager.default.fileExists(atPath: gzipped) { return gzipped }
        throw DatasetError.unreadable(path: plain, reason: "no such file (nor \(name).gz)")
    }

    /// The first `limit` bytes of the file's (decompressed) contents.
    private static func read(_ path: String, limit: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DatasetError.unreadable(path: path, reason: "cannot read the file")
        }
        defer { try? handle.close() }
        let magic = [UInt8]((try? handle.read(upToCount: 2)) ?? Data())
        try? handle.seek(toOffset: 0)
        if !Gzip.isCompressed(magic) {
            return [UInt8]((try? handle.read(upToCount: limit)) ?? Data())
        }
        let bytes = [UInt8]((try? handle.readToEnd()) ?? Data())
        do { return try Gzip.decompress(bytes, limit: limit) } catch {
            throw DatasetError.badIDX(path: path, reason: "\(error)")
        }
    }

    private static func header(_ bytes: [UInt8], path: String, magic: Int, dimensions: Int) throws -> [Int] {
        func word(_ offset: Int) -> Int {
            Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        }
        guard bytes.count >= 4 + 4 * dimensions else { throw DatasetError.badIDX(path: path, reason: "truncated header") }
        guard word(0) == magic else {
            throw DatasetError.badIDX(path: path, reason: "magic number \(word(0)), expected \(magic)")
        }
        return (0..<dimensions).map { word(4 + 4 * $0) }
    }
}
