import CZlib

/// Gzip decompression through zlib; the only file that calls zlib.
enum Gzip {
    /// Whether `bytes` start with gzip's magic number.
    static func isCompressed(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

    /// The decompressed contents of a gzip stream, or its first `limit` bytes: decompression stops there, so a
    /// small file that inflates to gigabytes costs no more than the limit.
    /// - Throws: a message describing zlib's complaint.
    static func decompress(_ bytes: [UInt8], limit: Int = .max) throws -> [UInt8] {
        var stream = z_stream()
        var status = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw GzipError(message: "cannot start decompression (zlib \(status))") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        try bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw GzipError(message: "corrupt gzip data (zlib \(status))")
                    }
                    output.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
                }
                if output.count >= limit {
                    output.removeLast(output.count - limit)
                    return
                }
                if status != Z_STREAM_END && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw GzipError(message: "truncated gzip data")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}

/// A gzip stream zlib could not read.
struct GzipError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
