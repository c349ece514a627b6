import EngineCore
import Foundation

/// Writes scalars as a TensorBoard event file (`events.out.tfevents.*`), readable by TensorBoard itself: each
/// record is a length, its masked CRC-32C, an `Event` protocol buffer and its masked CRC-32C. Only the writing
/// rank (rank 0) writes.
///
/// ```swift
/// let board = try TensorBoardWriter(directory: URL(fileURLWithPath: "runs/first"))
/// board.addScalar("train/loss", 0.25, step: 100)
/// ```
public final class TensorBoardWriter {
    /// The event file.
    public let file: URL?
    private let output: AppendingFile?

    /// A writer of a new event file in `directory` (created when missing); writes nothing when not `isWriter`.
    /// A write that fails later (a full disk) stops the file with one report through `onWriteFailure`.
    /// - Throws: `OutputFileError.unwritable` when the directory or the file cannot be written.
    public init(directory: URL, isWriter: Bool = true, onWriteFailure: @escaping (String) -> Void = AppendingFile.warn) throws {
        guard isWriter else {
            file = nil
            output = nil
            return
        }
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw OutputFileError.unwritable(path: directory.path, reason: "cannot create the TensorBoard directory (\(error.localizedDescription))")
        }
        let now = Date().timeIntervalSince1970
        let name = "events.out.tfevents.\(Int(now)).\(ProcessInfo.processInfo.hostName).\(getpid()).swift-train"
        let url = directory.appendingPathComponent(name)
        file = url
        output = try AppendingFile(path: url.path, truncate: true, onFailure: onWriteFailure)
        var event = Protobuf()
        event.double(1, now)
        event.string(3, "brain.Event:2")
        write(event.bytes)
    }

    /// Why the event file stopped being written (a full disk), or nil.
    public var writeFailure: String? { output?.failure }

    /// Appends one scalar at `step`.
    public func addScalar(_ tag: String, _ value: Double, step: Int) {
        guard output != nil else { return }
        var summaryValue = Protobuf()
        summaryValue.string(1, tag)
        summaryValue.float(2, Float(value))
        writeSummary(summaryValue, step: step)
    }

    /// Writes an `Event` at `step` holding a `Summary` of one value (a scalar or a histogram).
    private func writeSummary(_ summaryValue: Protobuf, step: Int) {
        var summary = Protobuf()
        summary.message(1, summaryValue)
        var event = Protobuf()
        event.double(1, Date().timeIntervalSince1970)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.message(5, summary)
        write(event.bytes)
    }

    /// Whether this writer writes (false on the ranks that are not the writer): skip preparing values then.
    public var isWriting: Bool { output != nil }

    /// Appends a histogram of `values` at `step` (TensorBoard's histogram and distribution panes): `bins` equal-width
    /// buckets from the smallest to the largest finite value; values that are not finite are left out.
    public func addHistogram(_ tag: String, values: some Sequence<Float>, step: Int, bins: Int = 30) {
        guard output != nil else { return }
        let finite = values.lazy.filter(\.isFinite).map(Double.init)
        var (minimum, maximum, count, sum, squares) = (Double.infinity, -Double.infinity, 0, 0.0, 0.0)
        for value in finite {
            (minimum, maximum) = (Swift.min(minimum, value), Swift.max(maximum, value))
            count += 1
            sum += value
            squares += value * value
        }
        let buckets = count == 0 ? 0 : (maximum > minimum ? Swift.max(bins, 1) : 1)
        var limits = (0..<buckets).map { minimum + (maximum - minimum) * Double($0 + 1) / Double(buckets) }
        if buckets > 0 { limits[buckets - 1] = maximum }
        var counts = [Double](repeating: 0, count: buckets)
        if buckets == 1 {
            counts[0] = Double(count)
        } else if buckets > 1 {
            let width = (maximum - minimum) / Double(buckets)
            for value in finite { counts[Swift.min(Int((value - minimum) / width), buckets - 1)] += 1 }
        }
        var histogram = Protobuf()
        histogram.double(1, count == 0 ? 0 : minimum)
        histogram.double(2, count == 0 ? 0 : maximum)
        histogram.double(3, Double(count))
        histogram.double(4, sum)
        histogram.double(5, squares)
        histogram.packedDoubles(6, limits)
        histogram.packedDoubles(7, counts)
        var summaryValue = Protobuf()
        summaryValue.string(1, tag)
        summaryValue.message(5, histogram)
        writeSummary(summaryValue, step: step)
    }

    /// Flushes the file to disk.
    public func flush() { output?.synchronize() }

    private func write(_ data: [UInt8]) {
        var record: [UInt8] = []
        let length = UInt64(data.count)
        let lengthBytes = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
        record += lengthBytes
        record += Self.littleEndian(Self.maskedCRC(lengthBytes))
        record += data
        record += Self.littleEndian(Self.maskedCRC(data))
        output?.append(record)
    }

    static func littleEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    /// TensorFlow's masked CRC-32C.
    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    /// CRC-32C (Castagnoli).
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// The few protocol-buffer encodings an `Event` needs.
struct Protobuf {
    var bytes: [UInt8] = []

    mutating func key(_ field: Int, _ wireType: UInt64) { appendVarint(UInt64(field) << 3 | wireType) }

    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, 0)
        appendVarint(value)
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) }
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) }
    }

    mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        key(field, 2)
        appendVarint(UInt64(values.count * 8))
        for value in values { bytes += (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
    }

    mutating func string(_ field: Int, _ value: String) {
        key(field, 2)
        appendVarint(UInt64(value.utf8.count))
        bytes += Array(value.utf8)
    }

    mutating func message(_ field: Int, _ value: Protobuf) {
        key(field, 2)
        appendVarint(UInt64(value.bytes.count))
        bytes += value.bytes
    }
}
