import FuzzSupport
import Training

/// libFuzzer's entry: the bytes as a `--config` file. Any error is fine; a crash, a hang or a leak is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let entries = try? ConfigurationDocument.entries(in: Array(UnsafeBufferPointer(start: data, count: size))) {
        for entry in entries { _ = entry.reading }
    }
    return 0
}

/// The executable's entry point (SwiftPM names it `FuzzConfiguration_main`): libFuzzer's driver over this target.
@_cdecl("FuzzConfiguration_main")
public func fuzzConfigurationMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzConfiguration(data, size) }
}
