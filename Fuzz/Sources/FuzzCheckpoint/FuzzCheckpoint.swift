import FuzzSupport
import Training

/// libFuzzer's entry: the bytes as a checkpoint file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? CheckpointFile.decode(Array(UnsafeBufferPointer(start: data, count: size)), source: "fuzz")
    return 0
}

/// The executable's entry point (SwiftPM names it `FuzzCheckpoint_main`): libFuzzer's driver over this target.
@_cdecl("FuzzCheckpoint_main")
public func fuzzCheckpointMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzCheckpoint(data, size) }
}
