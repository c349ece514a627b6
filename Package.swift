// swift-tools-version:6.0
import PackageDescription

/// The element-wise loops of the math target are compiled without bounds checks and, on x86-64, for AVX2 and
/// FMA (Haswell, 2013, and later), as the plain-C baseline is with -march=native: 3x faster optimizer steps.
#if arch(x86_64)
let neuralNetFlags = ["-Ounchecked", "-Xllvm", "-mattr=+avx2,+fma"]
#else
let neuralNetFlags = ["-Ounchecked"]
#endif

let package = Package(
    name: "swift-train",
    platforms: [.macOS(.v15)],
    // MARK: - Public API
    products: [
        .library(name: "EngineCore", targets: ["EngineCore"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Training", targets: ["Training"]),
        .executable(name: "swift-train", targets: ["SwiftTrainCLI"]),
        .executable(name: "swift-train-bench", targets: ["SwiftTrainBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: - C layers (expose only what Swift cannot import)
        .systemLibrary(name: "CMPI", path: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", path: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // MARK: - Libraries (dependencies point one way: EngineCore, NeuralNet, Cluster -> Training -> tools)
        .target(name: "EngineCore", swiftSettings: [.unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"])]),
        .target(name: "NeuralNet", dependencies: ["CBLAS"], swiftSettings: [.unsafeFlags(neuralNetFlags)]),
        .target(name: "Cluster", dependencies: ["CMPI"]),
        .target(name: "Training", dependencies: [
            "EngineCore", "NeuralNet", "Cluster", "CZlib",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // MARK: - Tools
        .executableTarget(name: "SwiftTrainCLI", dependencies: [
            "Training", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "SwiftTrainBench", dependencies: [
            "Training", "CBLAS", "CMPI",
        ]),

        // MARK: - Tests
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EngineCoreTests", dependencies: ["EngineCore"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "EngineCore", "NeuralNet", "Cluster", "TestSupport"]),
        .testTarget(name: "SwiftTrainCLITests", dependencies: ["TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
