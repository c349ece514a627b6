import Training

/// libFuzzer's entry: the bytes as a checkpoint file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? CheckpointFile.decode(Array(UnsafeBufferPointer(start: data, count: size)), source: "fuzz")
    return 0
}
