import Foundation
import FuzzSupport
import Training

/// libFuzzer's entry: the first byte splits the rest into a labels file and an images file (each plain or gzip).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let split = min(Int(bytes[0]) + 1, bytes.count)
    let directory = NSTemporaryDirectory() + "fuzz-idx-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: directory + "/train-labels-idx1-ubyte", contents: Data(bytes[1..<split]))
    _ = FileManager.default.createFile(atPath: directory + "/train-images-idx3-ubyte", contents: Data(bytes[split...]))
    _ = try? IDXDataset.load(directory: directory, split: .train)
    return 0
}

/// The executable's entry point (SwiftPM names it `FuzzIDX_main`): libFuzzer's driver over this target.
@_cdecl("FuzzIDX_main")
public func fuzzIDXMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzIDX(data, size) }
}
