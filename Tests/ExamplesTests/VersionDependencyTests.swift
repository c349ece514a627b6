import Foundation
import TestSupport
import Testing

/// A new package that depends on swift-train by version, as a user's would: a tagged clone of this repository,
/// `from:` the tag, every library product imported, one example's code compiled and run from public API alone.
@Suite("Depending on swift-train by version")
struct VersionDependencyTests {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func shell(_ command: String, in directory: URL, timeout: TimeInterval = 900) throws -> ProcessResult {
        try ProcessRunner.run("/bin/bash", ["-c", command], currentDirectory: directory, timeout: timeout)
    }

    static var canClone: Bool {
        FileManager.default.fileExists(atPath: repositoryRoot.appendingPathComponent(".git").path)
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/git")
    }

    @Test(
        "a scratch package with .package(url:from:) resolves, builds (no unsafe flags) and runs an example",
        .enabled(if: canClone, "needs git and this repository's .git folder"))
    func scratchPackage() throws {
        let root = Self.repositoryRoot
        let scratch = try ProcessRunner.makeTemporaryDirectory("by-version")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The clone is named swift-train: a URL dependency's package name is the last component of its URL.
        let clone = try Self.shell(
            """
            git clone -q "\(root.path)" swift-train && cd swift-train && git -c user.name=t -c user.email=t@t tag 9.9.0
            """, in: scratch)
        #expect(clone.exitCode == 0, "\(clone.standardError)")
        let app = scratch.appendingPathComponent("app")
        try FileManager.default.createDirectory(at: app.appendingPathComponent("Sources/app"), withIntermediateDirectories: true)
        try """
        // swift-tools-version:6.0
        import PackageDescription
        let package = Package(
            name: "app",
            dependencies: [.package(url: "file://\(scratch.path)/swift-train", from: "9.9.0")],
            targets: [.executableTarget(name: "app", dependencies: [
                .product(name: "EngineCore", package: "swift-train"), .product(name: "NeuralNet", package: "swift-train"),
                .product(name: "Cluster", package: "swift-train"), .product(name: "Training", package: "swift-train"),
                .product(name: "Autodiff", package: "swift-train"),
            ])]
        )
        """.write(to: app.appendingPathComponent("Package.swift"), atomically: true, encoding: .utf8)
        let example = try String(contentsOf: root.appendingPathComponent("Examples/SeedTrainer/main.swift"), encoding: .utf8)
        try ("import Autodiff\nimport Cluster\n" + example).write(
            to: app.appendingPathComponent("Sources/app/main.swift"), atomically: true,
            encoding: .utf8)
        let build = try Self.shell("swift build 2>&1 | grep -vE '^\\[[0-9]+/[0-9]+\\]'", in: app)
        #expect(build.exitCode == 0 && !build.standardOutput.contains("error:"), "\(build.standardOutput.suffix(3000))")
        let run = try Self.shell("OPENBLAS_NUM_THREADS=1 .build/debug/app 1", in: app, timeout: 300)
        #expect(run.exitCode == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("Validation Results - Epoch: 1"))
    }
}
