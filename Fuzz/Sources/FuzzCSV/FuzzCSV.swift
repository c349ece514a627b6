import Foundation
import FuzzSupport
import Training

/// libFuzzer's entry: the bytes as a CSV file. Any error is fine; a crash, a hang or a leak is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = NSTemporaryDirectory() + "fuzz-csv-\(getpid()).csv"
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    for column in [LabelColumn.last, .named("label")] {
        if let dataset = try? CSVDataset.load(path: path, labelColumn: column) {
            _ = try? dataset.asRegression()
            _ = dataset.batch(0..<min(dataset.count, 4))
        }
    }
    return 0
}

/// The executable's entry point (SwiftPM names it `FuzzCSV_main`): libFuzzer's driver over this target.
@_cdecl("FuzzCSV_main")
public func fuzzCSVMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzCSV(data, size) }
}
