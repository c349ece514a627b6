import ChildProcesses
import EngineCore
import Foundation
import TestSupport
import Testing

@testable import Training

/// A stateful object whose state is a counter and a tensor.
final class Counter: Stateful {
    var value: Int
    init(_ value: Int) { self.value = value }
    func stateDict() -> StateDict { ["value": .int(value), "weights": .tensor(shape: [2], values: [Float(value), 0.5])] }
    func loadStateDict(_ state: StateDict) throws {
        value = try state.int("value")
        _ = try state.tensor("weights", shape: [2])
    }
}

@Suite("Checkpoint: retention, scores, names, atomic writes, loading", .serialized)
struct CheckpointHandlerTests {
    func directory() throws -> URL { try ProcessRunner.makeTemporaryDirectory("checkpoint") }

    func files(_ url: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
    }

    @Test("numberSaved 2 over 5 saves keeps the last two files; the default name is checkpoint_{iteration}")
    func retention() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let model = Counter(0)
        let optimizer = Counter(0)
        let checkpoint = try Checkpoint(
            toSave: ["model": model, "optimizer": optimizer],
            saver: try DiskSaver(directory: url), numberSaved: 2)
        for iteration in [10, 20, 30, 40, 50] {
            model.value = iteration
            try checkpoint.save(iteration: iteration, epoch: 1)
        }
        #expect(files(url) == ["checkpoint_40.safetensors", "checkpoint_50.safetensors"])
        #expect(checkpoint.saved.map(\.filename) == ["checkpoint_40.safetensors", "checkpoint_50.safetensors"])
        let restored = Counter(0)
        try Checkpoint.loadObjects(toLoad: ["model": restored], checkpoint: try CheckpointFile.read(checkpoint.lastCheckpoint!))
        #expect(restored.value == 50)
    }

    @Test("best-by-score keeps the best, removes the worse, names files with the score")
    func bestByScore() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        var score = 0.0
        let checkpoint = try Checkpoint(
            toSave: ["model": Counter(1)], saver: try DiskSaver(directory: url), filenamePrefix: "best",
            numberSaved: 2, scoreFunction: { score }, scoreName: "accuracy",
            globalStepTransform: { _, epoch in epoch })
        for (epoch, value) in [0.5, 0.9, 0.7, 0.95, 0.6].enumerated() {
            score = value
            try checkpoint.save(iteration: epoch * 10, epoch: epoch + 1)
        }
        #expect(files(url) == ["best_model_2_accuracy=0.9000.safetensors", "best_model_4_accuracy=0.9500.safetensors"])
        #expect(checkpoint.saved.map(\.priority) == [0.9, 0.95])
    }

    @Test("file names: one object takes its key, several are 'checkpoint'; a score without a name is appended")
    func names() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let saver = try DiskSaver(directory: url)
        #expect(
            try Checkpoint(toSave: ["model": Counter(1)], saver: saver).filename(score: nil, step: nil, iteration: 5000)
                == "model_5000.safetensors")
        #expect(
            try Checkpoint(toSave: ["a": Counter(1), "b": Counter(2)], saver: saver, filenamePrefix: "run")
                .filename(score: 0.12345, step: nil, iteration: 7) == "run_checkpoint_0.1235.safetensors")
        #expect(
            try Checkpoint(toSave: ["a": Counter(1)], saver: saver).filename(score: 3, step: 9, iteration: 7)
                == "a_9_3.0000.safetensors", "a floating score that is a whole number keeps its 4 decimals, as Ignite's")
        let patterned = try Checkpoint(
            toSave: ["m": Counter(1)], saver: saver, filenamePrefix: "run", scoreFunction: { 0.5 },
            scoreName: "acc", filenamePattern: "{filename_prefix}-{name}-e{global_step}-{score_name}{score}.{ext}")
        #expect(try patterned.filename(score: 0.5, step: 4, iteration: 40) == "run-m-e4-acc0.5000.safetensors")
    }

    @Test("every placeholder of a pattern renders as Ignite's: absent score, score name and global step print None")
    func patternPlaceholders() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let saver = try DiskSaver(directory: url)
        let pattern = "{filename_prefix}|{name}|{global_step}|{score_name}|{score}.{ext}"
        #expect(
            try Checkpoint(toSave: ["m": Counter(1)], saver: saver, filenamePattern: pattern)
                .filename(score: nil, step: nil, iteration: 12) == "|m|12|None|None.safetensors")
        #expect(
            try Checkpoint(toSave: ["m": Counter(1)], saver: saver, scoreFunction: { 2 }, filenamePattern: pattern)
                .filename(score: 2, step: nil, iteration: 12) == "|m|None|None|2.0000.safetensors")
        #expect(
            try Checkpoint(
                toSave: ["m": Counter(1)], saver: saver, scoreFunction: { 2 }, scoreName: "acc",
                filenamePattern: pattern
            ).filename(score: 2, step: 3, iteration: 12)
                == "|m|3|acc|2.0000.safetensors")
        #expect(throws: CheckpointError.unknownPlaceholder("epoch")) {
            try Checkpoint(toSave: ["m": Counter(1)], saver: saver, filenamePattern: "{name}_{epoch}.{ext}")
                .filename(score: nil, step: nil, iteration: 1)
        }
        let checkpoint = try Checkpoint(toSave: ["m": Counter(1)], saver: saver, filenamePattern: "{name}_{bogus}.{ext}")
        #expect(throws: CheckpointError.unknownPlaceholder("bogus")) { try checkpoint.save(iteration: 1, epoch: 1) }
    }

    @Test("a saver that dies mid-write leaves the previous checkpoint valid and no partial file under a real name")
    func atomicity() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let model = Counter(1)
        let saver = try DiskSaver(directory: url)
        let checkpoint = try Checkpoint(toSave: ["model": model, "other": Counter(0)], saver: saver, numberSaved: 1)
        try checkpoint.save(iteration: 1, epoch: 1)
        struct Crash: Error {}
        saver.afterWritingBytes = { written in if written > 10 { throw Crash() } }
        model.value = 2
        #expect(throws: Crash.self) { try checkpoint.save(iteration: 2, epoch: 1) }
        #expect(files(url) == ["checkpoint_1.safetensors"])
        let survivor = try CheckpointFile.read(url.appendingPathComponent("checkpoint_1.safetensors"))
        #expect(survivor["model"] == .dictionary(Counter(1).stateDict()))
    }

    @Test("a saver killed mid-write (SIGKILL) leaves no partial file under a real name")
    func killedWriter() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let swiftTrain = try ProcessRunner.executable("swift-train")
        // A big model so that writing takes a while; kill the process as soon as a temporary file appears.
        let process = try ChildProcess(
            [
                swiftTrain, "--model", "mlp:2048,2048", "--epochs", "3", "--no-progress", "--builtin-samples", "400",
                "--checkpoint-dir", url.path, "--checkpoint-every", "1", "--keep", "100"
            ],
            standardOutput: .null, standardError: .null)
        let deadline = Date().addingTimeInterval(60)
        var sawTemporary = false
        while Date() < deadline, process.isRunning {
            if files(url).contains(where: { $0.contains(".tmp-") }) {
                sawTemporary = true
                break
            }
            usleep(100)
        }
        process.signal(SIGKILL)
        process.wait()
        #expect(sawTemporary, "the process must be killed while a checkpoint is being written")
        #expect(files(url).contains { $0.contains(".tmp-") } || !files(url).isEmpty)
        for name in files(url) where !name.hasPrefix(".") {
            #expect(throws: Never.self) { _ = try CheckpointFile.read(url.appendingPathComponent(name)) }
        }
        #expect(Checkpoint.latestValid(in: url).skipped.isEmpty)
    }

    @Test("latestValid takes the newest checkpoint that verifies and reports a corrupted newer one")
    func latestValid() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let checkpoint = try Checkpoint(
            toSave: ["trainer": Engine<Int, Int> { _, b in b }, "model": Counter(3)],
            saver: try DiskSaver(directory: url), numberSaved: nil)
        for iteration in [3, 6, 9] {
            let engine = checkpoint.toSave["trainer"] as! Engine<Int, Int>
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(iteration), "max_epochs": .int(5)])
            try checkpoint.save(iteration: iteration, epoch: iteration / 3)
        }
        #expect(Checkpoint.latestValid(in: url).url?.lastPathComponent == "checkpoint_9.safetensors")
        let newest = url.appendingPathComponent("checkpoint_9.safetensors")
        var bytes = try Data(contentsOf: newest)
        bytes[bytes.count - 1] ^= 0xff
        try bytes.write(to: newest)
        let found = Checkpoint.latestValid(in: url)
        #expect(found.url?.lastPathComponent == "checkpoint_6.safetensors")
        #expect(found.skipped.map(\.0.lastPathComponent) == ["checkpoint_9.safetensors"])
    }

    @Test("a non-writing rank keeps the same bookkeeping but touches no file")
    func nonWriter() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let checkpoint = try Checkpoint(
            toSave: ["model": Counter(1)], saver: try DiskSaver(directory: url, isWriter: false),
            numberSaved: 1, isWriter: false)
        try checkpoint.save(iteration: 1, epoch: 1)
        try checkpoint.save(iteration: 2, epoch: 1)
        #expect(files(url).isEmpty)
        #expect(checkpoint.saved.map(\.filename) == ["model_2.safetensors"])
    }

    @Test("the saver refuses a missing or non-empty directory unless told otherwise")
    func saverDirectories() throws {
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let missing = url.appendingPathComponent("a/b")
        #expect(throws: CheckpointError.self) { _ = try DiskSaver(directory: missing) }
        _ = try DiskSaver(directory: missing, createDirectory: true)
        try DiskSaver(directory: missing).write([1, 2, 3], name: "x.safetensors")
        #expect(throws: CheckpointError.self) { _ = try DiskSaver(directory: missing) }
        _ = try DiskSaver(directory: missing, requireEmpty: false)
    }

    @Test("loadObjects names a missing object and an object whose state does not fit; its own state round-trips")
    func loadObjects() throws {
        let tree: StateDict = ["model": .dictionary(Counter(4).stateDict())]
        #expect(throws: CheckpointError.missingObject(name: "optimizer")) {
            try Checkpoint.loadObjects(toLoad: ["model": Counter(0), "optimizer": Counter(0)], checkpoint: tree)
        }
        let wrong: StateDict = ["model": .dictionary(["value": .string("x")])]
        #expect(throws: CheckpointError.self) { try Checkpoint.loadObjects(toLoad: ["model": Counter(0)], checkpoint: wrong) }
        let single = Counter(0)
        try Checkpoint.loadObjects(toLoad: ["model": single], checkpoint: Counter(8).stateDict())
        #expect(single.value == 8)
        let url = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let checkpoint = try Checkpoint(toSave: ["m": Counter(1)], saver: try DiskSaver(directory: url), numberSaved: 3)
        try checkpoint.save(iteration: 4, epoch: 1)
        let copy = try Checkpoint(toSave: ["m": Counter(1)], saver: try DiskSaver(directory: url, requireEmpty: false))
        try copy.loadStateDict(checkpoint.stateDict())
        #expect(copy.saved.map(\.filename) == checkpoint.saved.map(\.filename))
    }
}

@Suite("Ignite parity: Checkpoint's include_self, reset, save_on_rank and SAVED_CHECKPOINT")
struct CheckpointParityTests {
    @Test("attached to an event it saves and fires .savedCheckpoint; includeSelf stores its kept files; reset forgets them")
    func attachedCheckpoint() throws {
        let url = try ProcessRunner.makeTemporaryDirectory("checkpoint-self")
        defer { try? FileManager.default.removeItem(at: url) }
        let engine = Engine<Int, Int> { _, batch in batch }
        let checkpoint = try Checkpoint(
            toSave: ["model": Counter(1)], saver: try DiskSaver(directory: url), numberSaved: 2,
            includeSelf: true)
        try checkpoint.attach(to: engine, event: .iterationCompleted(every: 2))
        var fired = 0
        try engine.on(.savedCheckpoint) { _ in fired += 1 }
        try engine.run([1, 2, 3, 4, 5, 6], maxEpochs: 1)
        #expect(fired == 3)
        #expect(checkpoint.saved.map(\.filename) == ["model_4.safetensors", "model_6.safetensors"])
        let tree = try CheckpointFile.read(url.appendingPathComponent("model_6.safetensors"))
        guard case .dictionary(let own)? = tree["checkpointer"], case .array(let kept)? = own["saved"] else {
            Issue.record("no checkpointer state in \(tree.keys.sorted())")
            return
        }
        #expect(kept.count == 2)
        checkpoint.reset()
        #expect(checkpoint.saved.isEmpty)
        #expect(throws: CheckpointError.self) {
            try Checkpoint(
                toSave: ["checkpointer": Counter(1)], saver: try DiskSaver(directory: url, requireEmpty: false),
                includeSelf: true
            ).save(iteration: 1, epoch: 0)
        }
    }

    @Test("a checkpoint that is not the writer (another rank) keeps the same books and writes nothing")
    func notWriter() throws {
        let url = try ProcessRunner.makeTemporaryDirectory("checkpoint-rank")
        defer { try? FileManager.default.removeItem(at: url) }
        let checkpoint = try Checkpoint(
            toSave: ["model": Counter(1)], saver: try DiskSaver(directory: url), numberSaved: 1,
            isWriter: false)
        try checkpoint.save(iteration: 3, epoch: 0)
        #expect(checkpoint.saved.map(\.filename) == ["model_3.safetensors"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.path).isEmpty)
    }
}
