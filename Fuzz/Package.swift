// swift-tools-version:6.0
// Fuzz targets for the readers of untrusted files (CSV, IDX, checkpoints, configuration files). Built and run by `launch/fuzz`, which
// passes libFuzzer's instrumentation on the command line (`-sanitize=fuzzer,address`), so no target here carries a
// flag. `launch/fuzz` links the repository as `.checkout/swift-train` so the dependency has its product's name.
import PackageDescription

let dependencies: [Target.Dependency] = [.product(name: "Training", package: "swift-train"), "FuzzSupport"]

let package = Package(
    name: "swift-train-fuzz",
    dependencies: [.package(path: ".checkout/swift-train")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzCSV", dependencies: dependencies),
        .executableTarget(name: "FuzzIDX", dependencies: dependencies),
        .executableTarget(name: "FuzzCheckpoint", dependencies: dependencies),
        .executableTarget(name: "FuzzConfiguration", dependencies: dependencies)
    ]
)
