import Foundation

/// An independent reader of the tensors in a safetensors file (header length, JSON header, raw data),
/// so tests compare parameters without going through the code under test.
enum SafetensorsTestReader {
    struct ReadError: Error, CustomStringConvertible { let description: String }

    /// Every F32 tensor of the file, by name.
    static func tensors(at url: URL) throws -> [String: [Float]] {
        let data = try Data(contentsOf: url)
        guard data.count >= 8 else { throw ReadError(description: "file shorter than 8 bytes") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let headerEnd = 8 + Int(headerLength)
        guard headerEnd <= data.count,
            let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd)) as? [String: Any]
        else { throw ReadError(description: "bad header") }
        var result: [String: [Float]] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], entry["dtype"] as? String == "F32",
                let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { continue }
            let bytes = data.subdata(in: (headerEnd + offsets[0])..<(headerEnd + offsets[1]))
            result[name] = bytes.withUnsafeBytes { raw in
                (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
        }
        return result
    }

    /// The newest `.safetensors` file of a directory (by name order of the step they carry).
    static func newestCheckpoint(in directory: URL) throws -> URL {
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.contentModificationDateKey])
            .filter { $0.pathExtension == "safetensors" }
        guard let newest = files.max(by: { step($0) < step($1) }) else {
            throw ReadError(description: "no checkpoint in \(directory.path)")
        }
        return newest
    }

    private static func step(_ url: URL) -> Int {
        let digits = url.deletingPathExtension().lastPathComponent.split(separator: "_").last.flatMap { Int($0) }
        return digits ?? 0
    }

    /// The largest relative difference between two sets of tensors with the same names.
    static func maxRelativeDifference(_ a: [String: [Float]], _ b: [String: [Float]], prefix: String) throws -> Double {
        let names = a.keys.filter { $0.hasPrefix(prefix) }.sorted()
        guard !names.isEmpty, names == b.keys.filter({ $0.hasPrefix(prefix) }).sorted() else {
            throw ReadError(description: "tensor names differ: \(names) vs \(b.keys.sorted())")
        }
        var worst = 0.0
        for name in names {
            let x = a[name]!
            let y = b[name]!
            guard x.count == y.count else { throw ReadError(description: "\(name) sizes differ") }
            let scale = max(x.map { abs(Double($0)) }.max() ?? 0, 1e-6)
            for index in x.indices { worst = max(worst, abs(Double(x[index]) - Double(y[index])) / scale) }
        }
        return worst
    }
}
