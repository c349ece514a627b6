import Foundation
import TestSupport
import Testing
import Training

/// Bad inputs that once crashed, hung or lied: each is now one clear line and a non-zero exit.
@Suite("Hardened inputs: flags, files and ranks that disagree", .serialized)
struct HardeningTests {
    @Test("a negative number gets the same message as --flag=-1", arguments: ["--batch-size", "--lr", "--epochs", "--seed"])
    func negativeNumbers(flag: String) throws {
        let spaced = try SwiftTrainRunner.run([flag, "-1", "--no-progress"])
        let joined = try SwiftTrainRunner.run(["\(flag)=-1", "--no-progress"])
        #expect(spaced.exitCode == 2 && joined.exitCode == 2)
        #expect(spaced.standardError == joined.standardError)
        #expect(!spaced.standardError.contains("Missing value"), "\(spaced.standardError)")
    }

    @Test(
        "configurations that cannot fit in memory are refused before allocating, with both figures",
        arguments: [
            ["--builtin-samples", "1000000000"], ["--model", "mlp:65536,65536"], ["--batch-size", "100000000"],
            ["--simulate-ranks", "10000"]
        ])
    func tooLarge(arguments: [String]) throws {
        let result = try SwiftTrainRunner.run(arguments + ["--no-progress"], timeout: 60)
        #expect(result.exitCode == 2, "\(result.standardError)")
        #expect(!result.timedOut)
        #expect(
            result.standardError.contains("out of range") || result.standardError.contains("GiB of memory"),
            "\(result.standardError)")
    }

    @Test("ranks started with different options are one error naming the option and the ranks, not a hang")
    func ranksDisagree() throws {
        let path = try ProcessRunner.executable("swift-train")
        let common = ["--no-progress", "--builtin-samples", "200", "--epochs", "1"]
        let arguments =
            ProcessRunner.mpirunArguments(ranks: 1) + [path, "--seed", "1"] + common
            + [":", "-n", "1", path, "--seed", "2"] + common
        let result = try ProcessRunner.run("mpirun", arguments, environment: ProcessRunner.mpiEnvironment, timeout: 60)
        #expect(!result.timedOut)
        #expect(result.exitCode != 0)
        #expect(result.standardError.contains("--seed is 1 on rank 0 but 2 on rank 1"), "\(result.standardError.suffix(800))")
        #expect(result.standardError.components(separatedBy: "different options").count == 2, "printed once")
    }

    /// An IDX file: magic, dimensions, then `payload`.
    static func idx(_ url: URL, magic: UInt32, dimensions: [UInt32], payload: [UInt8]) throws {
        var bytes: [UInt8] = []
        for word in [magic] + dimensions { bytes += [UInt8(word >> 24), UInt8(word >> 16 & 0xff), UInt8(word >> 8 & 0xff), UInt8(word & 0xff)] }
        try Data(bytes + payload).write(to: url)
    }

    @Test("IDX headers whose sizes overflow or exceed the file, and test images of another shape, are one-line errors")
    func idxHeaders() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("idx")
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ split: String, count: UInt32, rows: UInt32, columns: UInt32, pixels: Int) throws {
            try Self.idx(
                directory.appendingPathComponent("\(split)-images-idx3-ubyte"), magic: 2051,
                dimensions: [count, rows, columns], payload: [UInt8](repeating: 7, count: pixels))
            try Self.idx(
                directory.appendingPathComponent("\(split)-labels-idx1-ubyte"), magic: 2049, dimensions: [count],
                payload: (0..<Int(min(count, 4096))).map { UInt8($0 % 10) })
        }
        try write("train", count: 3, rows: 0xFFFF_FFFF, columns: 0xFFFF_FFFF, pixels: 64)
        try write("t10k", count: 20, rows: 4, columns: 4, pixels: 320)
        let overflow = try SwiftTrainRunner.run(["--data", "idx:\(directory.path)", "--no-progress"], timeout: 60)
        #expect(overflow.exitCode != 0 && overflow.standardError.contains("too large"), "\(overflow.standardError)")
        try write("train", count: 40, rows: 4, columns: 4, pixels: 40 * 16)
        try write("t10k", count: 20, rows: 2, columns: 8, pixels: 20 * 16)
        let shapes = try SwiftTrainRunner.run(["--data", "idx:\(directory.path)", "--no-progress"], timeout: 60)
        #expect(shapes.exitCode != 0, "\(shapes.standardError)")
        #expect(shapes.standardError.contains("[1, 4, 4]") && shapes.standardError.contains("[1, 2, 8]"), "\(shapes.standardError)")
    }

    @Test("a malformed first line of a large CSV is reported at once; '1' and '1.0' are one class, said once")
    func csvStreaming() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("bigcsv")
        defer { try? FileManager.default.removeItem(at: directory) }
        let big = directory.appendingPathComponent("big.csv")
        FileManager.default.createFile(atPath: big.path, contents: nil)
        let handle = try FileHandle(forWritingTo: big)
        handle.write(Data("a,b,c,label\n1,2,x,3\n".utf8))
        let block = Data(String(repeating: "1,2,3,4\n", count: 100_000).utf8)
        for _ in 0..<100 { handle.write(block) }  // 80 MB behind the bad line
        try handle.close()
        let start = Date()
        let bad = try SwiftTrainRunner.run(["--data", "csv:\(big.path)", "--no-progress"], timeout: 120)
        #expect(bad.exitCode != 0 && bad.standardError.contains("line 2, column 3"), "\(bad.standardError)")
        #expect(Date().timeIntervalSince(start) < 10, "reported when met, not after reading 80 MB")
        let merged = directory.appendingPathComponent("merged.csv")
        var text = "a,b,label\n"
        for row in 0..<60 { text += "\(row % 7),\(row % 5),\(row % 3 == 0 ? "1.0" : row % 3 == 1 ? "1" : "2")\n" }
        try text.write(to: merged, atomically: true, encoding: .utf8)
        let result = try SwiftTrainRunner.run(["--data", "csv:\(merged.path)", "--epochs", "1", "--no-progress"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardError.contains("labels '1' and '1.0' are the same number, one class 1"), "\(result.standardError)")
        #expect(result.standardError.contains("2 distinct integers"))
    }

    @Test("an IDX file gzipped from 200 MB is read only up to its declared size")
    func gzipBomb() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("bomb")
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.idx(
            directory.appendingPathComponent("train-labels-idx1-ubyte"), magic: 2049, dimensions: [20],
            payload: (0..<20).map { UInt8($0 % 10) })
        let images = directory.appendingPathComponent("train-images-idx3-ubyte")
        try Self.idx(images, magic: 2051, dimensions: [20, 4, 4], payload: [UInt8](repeating: 9, count: 200_000_000))
        let gzip = try ProcessRunner.run("/usr/bin/env", ["gzip", "-1", images.path], timeout: 300)
        #expect(gzip.exitCode == 0)
        try FileManager.default.copyItem(
            at: directory.appendingPathComponent("train-labels-idx1-ubyte"),
            to: directory.appendingPathComponent("t10k-labels-idx1-ubyte"))
        try FileManager.default.copyItem(
            at: directory.appendingPathComponent("train-images-idx3-ubyte.gz"),
            to: directory.appendingPathComponent("t10k-images-idx3-ubyte.gz"))
        let start = Date()
        let result = try SwiftTrainRunner.run(["--data", "idx:\(directory.path)", "--epochs", "1", "--no-progress"], timeout: 120)
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(Date().timeIntervalSince(start) < 10, "only the declared 320 bytes of images are inflated")
    }

    @Test("a checkpoint nested 100,000 levels deep or with a shape past Int.max is refused, not a crash")
    func hostileCheckpoints() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("hostile")
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ header: String) throws -> URL {
            var text = header
            while text.utf8.count % 8 != 0 { text += " " }
            var bytes: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: text.utf8.count >> (8 * $0)) }
            bytes += Array(text.utf8)
            let url = directory.appendingPathComponent("c\(bytes.count).safetensors")
            try Data(bytes).write(to: url)
            return url
        }
        let deep = try file(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        let huge = try file(
            #"{"t":{"dtype":"F32","shape":[2305843009213693952,4],"data_offsets":[0,0]},"__metadata__":{"format":"swift-train-checkpoint","format_version":"1","state":"{}","sha256":"0"}}"#
        )
        for url in [deep, huge] {
            let result = try SwiftTrainRunner.run(["inspect", url.path], timeout: 60)
            #expect(result.exitCode != 0 && result.exitCode < 128, "exit \(result.exitCode): \(result.standardError.suffix(300))")
            #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError.suffix(300))")
        }
    }
}

/// Resumes that once trusted any checkpoint, and checkpoint directories shared or unwritable.
@Suite("Checked resumes and checkpoint directories", .serialized)
struct CheckedResumeTests {
    static let common = [
        "--no-progress", "--builtin-samples", "400", "--batch-size", "16", "--model", "mlp:16",
        "--epochs", "2", "--checkpoint-every", "5"
    ]

    @Test("what defines a run must match to resume (each difference named); a new --lr is applied and said")
    func resumeChecks() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("checked")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stopped = try SwiftTrainRunner.run(Self.common + ["--seed", "0", "--checkpoint-dir", directory.path, "--stop-after", "12"])
        #expect(stopped.exitCode == 0, "\(stopped.standardError.suffix(500))")
        let other = try SwiftTrainRunner.run(
            Self.common + [
                "--seed", "1", "--model", "mlp:16", "--builtin-samples", "500",
                "--checkpoint-dir", directory.path, "--resume", "auto"
            ])
        #expect(other.exitCode != 0)
        #expect(other.standardError.contains("--seed is 1 here, 0 in the checkpoint"), "\(other.standardError)")
        #expect(other.standardError.contains("--builtin-samples is 500 here, 400 in the checkpoint"), "\(other.standardError)")
        let faster = try SwiftTrainRunner.run(
            Self.common + [
                "--seed", "0", "--lr", "0.01", "--checkpoint-dir", directory.path,
                "--resume", "auto", "--keep", "2"
            ])
        #expect(faster.exitCode == 0, "\(faster.standardError.suffix(500))")
        #expect(faster.standardError.contains("learning rate: 0.05 in the checkpoint, 0.01 from --lr"), "\(faster.standardError)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".safetensors") }
        #expect(files.count == 2, "--keep counts the resumed run's files too: \(files)")
    }

    @Test("a second run on the same checkpoint directory is refused while the first holds it; stale temporary files go")
    func directoryLock() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("locked")
        defer { try? FileManager.default.removeItem(at: directory) }
        let stale = directory.appendingPathComponent(".checkpoint_3.safetensors.tmp-999999")
        try Data([1, 2, 3]).write(to: stale)
        let binary = try ProcessRunner.executable("swift-train")
        let script = """
            "\(binary)" --no-progress --checkpoint-dir "\(directory.path)" --inject-fault hang:0:3 --epochs 1 >/dev/null 2>&1 &
            first=$!
            for i in $(seq 100); do [ -s "\(directory.path)/.swift-train.lock" ] && break; sleep 0.1; done
            "\(binary)" --no-progress --checkpoint-dir "\(directory.path)" --epochs 1
            status=$?
            kill -9 $first
            exit $status
            """
        let result = try ProcessRunner.run("/bin/bash", ["-c", script], environment: ProcessRunner.mpiEnvironment, timeout: 120)
        #expect(result.exitCode != 0)
        #expect(result.standardError.contains("is writing checkpoints here"), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: stale.path), "a killed writer's temporary file is removed")
        let after = try SwiftTrainRunner.run([
            "--no-progress", "--builtin-samples", "200", "--epochs", "1",
            "--checkpoint-dir", directory.path
        ])
        #expect(after.exitCode == 0, "the lock ends with its process: \(after.standardError.suffix(500))")
    }

    @Test("an unwritable checkpoint directory is found at start and said as 'cannot write checkpoint'")
    func unwritableDirectory() throws {
        let result = try SwiftTrainRunner.run(["--no-progress", "--checkpoint-dir", "/proc/self", "--epochs", "1"], timeout: 60)
        #expect(result.exitCode != 0)
        #expect(result.standardError.contains("cannot write checkpoint"), "\(result.standardError)")
        #expect(!result.standardOutput.contains("{"), "no training before the error")
    }
}

/// A rank that stops must not hang the job; rank 0's checkpoints must not count against the deadline.
@Suite("Stalls under mpirun", .serialized)
struct StallTests {
    @Test("a rank stopped with SIGSTOP ends the job within the default 60 s deadline, with a message")
    func stoppedRank() throws {
        let binary = try ProcessRunner.executable("swift-train")
        let launch =
            (["mpirun"] + ProcessRunner.mpirunArguments(ranks: 2) + [
                binary, "--no-progress", "--epochs", "100000",
                "--builtin-samples", "400", "--model", "mlp:16"
            ])
            .map { "'\($0)'" }.joined(separator: " ")
        let script = """
            \(launch) > /dev/null 2> "$TMPDIR_STALL/err" &
            job=$!
            sleep 4
            victim=$(pgrep -P $job -f swift-train | tail -1)
            kill -STOP $victim
            start=$(date +%s)
            for i in $(seq 120); do kill -0 $job 2>/dev/null || break; sleep 1; done
            end=$(date +%s)
            kill -CONT $victim 2>/dev/null; kill -9 $job $victim 2>/dev/null
            wait $job; status=$?
            echo "seconds=$((end - start)) status=$status"
            cat "$TMPDIR_STALL/err" >&2
            """
        let scratch = try ProcessRunner.makeTemporaryDirectory("stall")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var environment = ProcessRunner.mpiEnvironment
        environment["TMPDIR_STALL"] = scratch.path
        let result = try ProcessRunner.run("/bin/bash", ["-c", script], environment: environment, timeout: 200)
        let seconds = Int(result.standardOutput.components(separatedBy: "seconds=").last?.prefix { $0.isNumber } ?? "") ?? 999
        #expect(seconds <= 75, "\(result.standardOutput) \(result.standardError.suffix(600))")
        #expect(!result.standardOutput.contains("status=0"))
        #expect(result.standardError.contains("did not complete within 60"), "\(result.standardError.suffix(600))")
    }

    @Test("frequent large checkpoints on rank 0 do not trip a 1 s deadline: they are written in the background")
    func checkpointsDoNotStall() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("nostall")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try SwiftTrainRunner.mpirun(
            ranks: 2,
            [
                "--no-progress", "--epochs", "1", "--builtin-samples", "800",
                "--model", "mlp:1024,1024", "--checkpoint-dir", directory.path,
                "--checkpoint-every", "2", "--keep", "2", "--collective-timeout", "1"
            ])
        #expect(result.exitCode == 0, "\(result.standardError.suffix(800))")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".safetensors") }
        #expect(files.count == 2, "\(files)")
        let inspected = try SwiftTrainRunner.run(["inspect", directory.appendingPathComponent(files.sorted().last!).path])
        #expect(inspected.exitCode == 0, "every background write is complete and valid: \(inspected.standardError)")
    }
}

/// Checkpoints whose checksum is valid but whose values are impossible (crafted, or written by a broken tool).
@Suite("Checkpoints with impossible values", .serialized)
struct ImpossibleCheckpointTests {
    @Test("a checkpoint whose epoch_length is 2^62 is refused on resume with one line naming the key")
    func hugeEpochLength() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("epoch-length")
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = [
            "--no-progress", "--builtin-samples", "300", "--model", "mlp:16", "--epochs", "2",
            "--checkpoint-dir", directory.path
        ]
        let trained = try SwiftTrainRunner.run(options)
        #expect(trained.exitCode == 0, "\(trained.standardError)")
        let url = URL(fileURLWithPath: try SwiftTrainRunner.string(trained, "checkpoint"))
        var tree = try CheckpointFile.decode(Array(try Data(contentsOf: url)), source: url.path)
        guard case .dictionary(var trainer)? = tree["trainer"] else {
            Issue.record("no trainer state")
            return
        }
        trainer["epoch_length"] = .int(1 << 62)
        tree["trainer"] = .dictionary(trainer)
        try Data(CheckpointFile.encode(tree)).write(to: url)
        let resumed = try SwiftTrainRunner.run(options.dropLast(2) + ["--epochs", "3", "--resume", url.path])
        #expect(resumed.exitCode == 1 && resumed.standardError.contains("epoch_length"), "\(resumed.standardError)")
        #expect(resumed.standardError.split(separator: "\n").filter { $0.contains("error") }.count == 1)
    }

    @Test("evaluate and predict under mpirun with a checkpoint missing on rank 0 end with its error, never a hang")
    func missingOnRankZero() throws {
        for command in [["evaluate"], ["predict", "--data", "csv:/nonexistent.csv", "--output", "/tmp/never-written.csv"]] {
            let result = try SwiftTrainRunner.mpirun(
                ranks: 2, command + ["--checkpoint", "/nonexistent/checkpoint.safetensors"],
                timeout: 120)
            #expect(!result.timedOut && result.exitCode != 0, "\(command[0]): exit \(result.exitCode)")
            #expect(
                result.standardError.contains("/nonexistent/checkpoint.safetensors: cannot read checkpoint: no such file"),
                "\(result.standardError.suffix(500))")
        }
    }

    @Test("a 50 GB CSV (sparse) is refused from its size in seconds; a 2 GB checkpoint claiming a 1 GiB header is refused unread")
    func hugeInputs() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("huge")
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("zeros.csv")
        try "a,label\n0,0\n0,1\n".write(to: csv, atomically: true, encoding: .utf8)
        let handle = try FileHandle(forWritingTo: csv)
        try handle.truncate(atOffset: 50_000_000_000)
        try handle.close()
        let started = Date()
        let trained = try SwiftTrainRunner.run(["--data", "csv:" + csv.path, "--no-progress"], timeout: 60)
        #expect(trained.exitCode == 2 && trained.standardError.contains("GiB of memory"), "\(trained.standardError)")
        #expect(Date().timeIntervalSince(started) < 30)

        let checkpoint = directory.appendingPathComponent("huge.safetensors")
        var header = Data((0..<8).map { UInt8(truncatingIfNeeded: (1 << 30) >> (8 * $0)) })
        header.append(contentsOf: Array("{".utf8))
        try header.write(to: checkpoint)
        let file = try FileHandle(forWritingTo: checkpoint)
        try file.truncate(atOffset: 2_000_000_000)
        try file.close()
        for command in [["inspect", checkpoint.path], ["evaluate", "--checkpoint", checkpoint.path]] {
            let result = try SwiftTrainRunner.run(command, timeout: 60)
            #expect(
                result.exitCode == 1 && result.standardError.contains("a header of 1073741824 bytes (at most 268435456)"),
                "\(command[0]): exit \(result.exitCode) \(result.standardError.suffix(300))")
        }
    }
}
