// swift-tools-version:6.0
// Fuzz targets for the readers of untrusted files (CSV, IDX, checkpoints). Built and run by `launch/fuzz`, which
// passes libFuzzer's instrumentation on the command line (`-sanitize=fuzzer,address`), so no target here carries a
// flag. `launch/fuzz` links the repository as `.checkout/swift-train` so the dependency has its product's name.
import PackageDescription

let training: Target.Dependency = .product(name: "Training", package: "swift-train")

let package = Package(
    name: "swift-train-fuzz",
    dependencies: [.package(path: ".checkout/swift-train")],
    targets: [
        .executableTarget(name: "FuzzCSV", dependencies: [training]),
        .executableTarget(name: "FuzzIDX", dependencies: [training]),
        .executableTarget(name: "FuzzCheckpoint", dependencies: [training]),
    ]
)
