// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-train",
    platforms: [.macOS(.v15)],
    // MARK: - Public API
    products: [
        .library(name: "EngineCore", targets: ["EngineCore"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Autodiff", targets: ["Autodiff"]),
        .executable(name: "swift-train", targets: ["SwiftTrainCLI"]),
        .executable(name: "swift-train-bench", targets: ["SwiftTrainBench"]),
        .executable(name: "example-seed-trainer", targets: ["SeedTrainer"]),
        .executable(name: "example-custom-regression", targets: ["CustomRegression"]),
        .executable(name: "example-data-parallel-loop", targets: ["DataParallelLoop"]),
        .executable(name: "example-checkpoint-resume", targets: ["CheckpointResume"]),
        .executable(name: "example-differentiable-model", targets: ["DifferentiableModel"]),
        .executable(name: "example-world-size-invariant", targets: ["WorldSizeInvariant"]),
        .executable(name: "example-batch-norm-cnn", targets: ["BatchNormCNN"]),
        .executable(name: "example-tiny-transformer", targets: ["TinyTransformer"]),
        .executable(name: "example-char-lstm", targets: ["CharLSTM"]),
        .executable(name: "example-tiny-gpt", targets: ["TinyGPT"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3")
    ],
    targets: [
        // MARK: - C layers (expose only what Swift cannot import)
        .systemLibrary(
            name: "CMPI", path: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "CBLAS", path: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // MARK: - Libraries (dependencies point one way: EngineCore, NeuralNet, Cluster -> Training -> tools)
        // No unsafe flags anywhere: a package depending on swift-train by version must build it as it is.
        // Element-wise kernels get AVX2/FMA from per-function target attributes in CKernels instead.
        .target(name: "CKernels"),
        // Child processes waited for by their own ids (Foundation's Process can miss their end): the tools and tests.
        .target(name: "CSpawn"),
        .target(name: "ChildProcesses", dependencies: ["CSpawn"]),
        // The span log the library's products, kernels and collectives write to while a trace is recorded.
        .target(name: "Tracing"),
        .target(name: "EngineCore"),
        .target(name: "NeuralNet", dependencies: ["CBLAS", "CKernels", "Tracing"]),
        .target(name: "Cluster", dependencies: ["CMPI"]),
        // Models written as differentiable Swift (the toolchain's `_Differentiation`), bridged to NeuralNet's Model.
        .target(name: "Autodiff", dependencies: ["NeuralNet"]),
        .target(
            name: "Training",
            dependencies: [
                "EngineCore", "NeuralNet", "Cluster", "CZlib", "Tracing",
                .product(name: "Crypto", package: "swift-crypto")
            ]),

        // MARK: - The application (a client of the libraries' public API) and its tools
        .target(
            name: "SwiftTrainApp",
            dependencies: [
                "Training", "EngineCore", "NeuralNet", "Cluster", "Autodiff", "ChildProcesses",
                .product(name: "Crypto", package: "swift-crypto")
            ]),
        .executableTarget(
            name: "SwiftTrainCLI",
            dependencies: [
                "SwiftTrainApp", "ChildProcesses", .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]),
        .executableTarget(
            name: "SwiftTrainBench",
            dependencies: [
                "SwiftTrainApp", "Training", "Autodiff", "CBLAS", "CMPI", "ChildProcesses"
            ]),

        // MARK: - Examples (public API only; the README's code; run by ExamplesTests)
        .executableTarget(
            name: "SeedTrainer", dependencies: ["EngineCore", "NeuralNet", "Training"],
            path: "Examples/SeedTrainer"),
        .executableTarget(
            name: "CustomRegression", dependencies: ["EngineCore", "NeuralNet", "Training"],
            path: "Examples/CustomRegression"),
        .executableTarget(
            name: "DataParallelLoop", dependencies: ["EngineCore", "NeuralNet", "Training", "Cluster"],
            path: "Examples/DataParallelLoop"),
        .executableTarget(
            name: "CheckpointResume", dependencies: ["Cluster", "EngineCore", "NeuralNet", "Training"],
            path: "Examples/CheckpointResume"),
        .executableTarget(
            name: "DifferentiableModel", dependencies: ["Autodiff", "EngineCore", "NeuralNet", "Training"],
            path: "Examples/DifferentiableModel"),
        .executableTarget(
            name: "BatchNormCNN", dependencies: ["Autodiff", "EngineCore", "NeuralNet", "Training"],
            path: "Examples/BatchNormCNN"),
        .executableTarget(
            name: "TinyTransformer", dependencies: ["Autodiff", "EngineCore", "NeuralNet", "Training"],
            path: "Examples/TinyTransformer"),
        .executableTarget(
            name: "CharLSTM", dependencies: ["Autodiff", "EngineCore", "NeuralNet", "Training"],
            path: "Examples/CharLSTM"),
        .executableTarget(
            name: "TinyGPT", dependencies: ["Autodiff", "Cluster", "EngineCore", "NeuralNet", "Training"],
            path: "Examples/TinyGPT"),
        .executableTarget(
            name: "WorldSizeInvariant", dependencies: ["Cluster", "EngineCore", "NeuralNet", "Training"],
            path: "Examples/WorldSizeInvariant"),

        // MARK: - Tests
        .target(name: "TestSupport", dependencies: ["ChildProcesses"], path: "Tests/TestSupport"),
        .testTarget(name: "EngineCoreTests", dependencies: ["EngineCore"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"]),
        .testTarget(name: "AutodiffTests", dependencies: ["Autodiff", "NeuralNet", "Training", "EngineCore", "Cluster"]),
        .testTarget(name: "ChildProcessesTests", dependencies: ["ChildProcesses"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: [
                "Training", "EngineCore", "NeuralNet", "Cluster", "TestSupport",
                "ChildProcesses"
            ]),
        .testTarget(name: "SwiftTrainAppTests", dependencies: ["SwiftTrainApp", "EngineCore", "Cluster", "Training"]),
        .testTarget(name: "SwiftTrainCLITests", dependencies: ["TestSupport", "ChildProcesses", "Training", "EngineCore"]),
        .testTarget(name: "ExamplesTests", dependencies: ["TestSupport"])
    ],
    swiftLanguageModes: [.v6]
)
