import EngineCore
import Foundation

/// Saves named objects' state dicts into one checkpoint file, keeping the best or latest `numberSaved`.
///
/// Ignite's `Checkpoint` semantics: the file is named `{prefix}_{name}_{step}_{scoreName}={score}.safetensors`
/// (each part only when set; `name` is "checkpoint" for several objects, else the object's key; the default
/// step is the iteration, a non-integer score is printed with 4 decimals). The priority of a file is the
/// score when a score function is given, else the step. A new file is written when fewer than
/// `numberSaved` exist or it beats the lowest (ties too with `greaterOrEqual`), then the lowest is removed.
/// On a non-writing rank the bookkeeping runs identically but no file is touched.
public final class Checkpoint: Stateful, EventHandler {
    /// The objects saved, by name.
    public let toSave: [String: any Stateful]
    /// Where files go.
    public let saver: DiskSaver
    /// Files kept (nil: all).
    public let numberSaved: Int?
    /// Prefix of every file name.
    public let filenamePrefix: String
    /// The score of the current state (higher is better), if files are kept by score.
    public let scoreFunction: (() -> Double)?
    /// The score's name in file names.
    public let scoreName: String?
    /// The step in file names from (iteration, epoch); the iteration when nil.
    public let globalStepTransform: ((Int, Int) -> Int)?
    /// Whether a score equal to the lowest kept replaces it.
    public let greaterOrEqual: Bool
    /// A file name pattern with Ignite's placeholders `{filename_prefix}`, `{name}`, `{global_step}`,
    /// `{score_name}`, `{score}` and `{ext}`; nil for the default naming.
    public let filenamePattern: String?
    /// Kept files, lowest priority first.
    public private(set) var saved: [(priority: Double, filename: String)] = []
    /// Whether each file also holds this handler's own state (its kept files) as `checkpointer` (Ignite's
    /// `include_self`), so loading it restores which files are kept.
    public let includeSelf: Bool
    /// Whether this rank writes files (Ignite's `save_on_rank`: rank 0 by default); other ranks keep the same books.
    public let isWriter: Bool

    /// A checkpoint handler; call `save(iteration:epoch:)` from an event handler.
    /// - Throws: `ArgumentError` for nothing to save or a `numberSaved` below 1 (Ignite's rules; a `checkpointer` key
    ///   with `includeSelf` is refused by `save`).
    public init(
        toSave: [String: any Stateful], saver: DiskSaver, filenamePrefix: String = "", numberSaved: Int? = 1,
        scoreFunction: (() -> Double)? = nil, scoreName: String? = nil,
        globalStepTransform: ((Int, Int) -> Int)? = nil, filenamePattern: String? = nil, greaterOrEqual: Bool = false,
        isWriter: Bool = true, includeSelf: Bool = false
    ) throws {
        self.includeSelf = includeSelf
        self.isWriter = isWriter
        try ArgumentError.require(!toSave.isEmpty, "Checkpoint(toSave:)", "[:]", "at least one object to save")
        try ArgumentError.require(
            numberSaved.map { $0 > 0 } ?? true, "Checkpoint(numberSaved:)", numberSaved.map(String.init) ?? "nil", "a positive number or nil")
        self.toSave = toSave
        self.saver = saver
        self.filenamePrefix = filenamePrefix
        self.numberSaved = numberSaved
        self.scoreFunction = scoreFunction
        self.scoreName = scoreName
        self.globalStepTransform = globalStepTransform
        self.greaterOrEqual = greaterOrEqual
        self.filenamePattern = filenamePattern
    }

    /// Counts the files a previous run of the same name left in the directory (default naming, no score) as
    /// kept, so that `numberSaved` also bounds them when a run is resumed.
    public func adoptExistingFiles() {
        let name = toSave.count == 1 ? toSave.keys.first! : "checkpoint"
        let stem = (filenamePrefix.isEmpty ? "" : "\(filenamePrefix)_") + name + "_"
        for file in saver.existingNames where file.hasPrefix(stem) && file.hasSuffix(".safetensors") {
            let step = file.dropFirst(stem.count).dropLast(".safetensors".count)
            guard let value = Int(step), !saved.contains(where: { $0.filename == file }) else { continue }
            saved.append((Double(value), file))
        }
        saved.sort { $0.priority < $1.priority }
    }

    /// The newest kept file.
    public var lastCheckpoint: URL? {
        saved.last.map { saver.directory.appendingPathComponent($0.filename) }
    }

    /// Saves the objects if the current state deserves a place; returns the file written, if any.
    @discardableResult
    public func save(iteration: Int, epoch: Int) throws -> URL? {
        let score = scoreFunction?()
        let step = globalStepTransform?(iteration, epoch)
        let priority = score ?? Double(step ?? iteration)
        if let numberSaved, saved.count >= numberSaved, let lowest = saved.first?.priority {
            guard priority > lowest || (greaterOrEqual && priority == lowest) else { return nil }
        }
        let name = try filename(score: score, step: step, iteration: iteration)
        if includeSelf && toSave["checkpointer"] != nil {
            throw CheckpointError.objectMismatch(name: "checkpointer", detail: "includeSelf saves this handler under that name")
        }
        saved.removeAll { $0.filename == name }
        saved.append((priority, name))
        saved.sort { $0.priority < $1.priority }
        var removals: [String] = []
        if let numberSaved {
            while saved.count > numberSaved {
                let removed = saved.removeFirst()
                if removed.filename != name { removals.append(removed.filename) }
            }
        }
        // Another rank keeps the same books and copies nothing: only the writer takes the state.
        guard isWriter else { return saver.directory.appendingPathComponent(name) }
        // The state is copied now; with a background saver, encoding and writing happen while training goes on.
        var objects: StateDict =
            toSave.count == 1 && !includeSelf
            ? toSave.first!.value.stateDict()
            : toSave.mapValues { StateValue.dictionary($0.stateDict()) }
        if includeSelf { objects["checkpointer"] = .dictionary(stateDict()) }
        let saver = self.saver
        let removed = removals
        let tree = objects
        guard saver.writesInBackground else {
            let url = try saver.write(CheckpointFile.encode(tree), name: name)
            for removed in removals { saver.remove(name: removed) }
            return url
        }
        saver.enqueue {
            try saver.write(CheckpointFile.encode(tree), name: name)
            for file in removed { saver.remove(name: file) }
        }
        return saver.directory.appendingPathComponent(name)
    }

    /// The file name of a save, as Ignite renders it: a score is a floating number, printed with 4 decimals
    /// (3.0 gives "3.0000"); in a custom pattern an absent score, score name or global step prints as "None".
    /// - Throws: `CheckpointError.unknownPlaceholder` for a `{placeholder}` Ignite does not define.
    func filename(score: Double?, step: Int?, iteration: Int) throws -> String {
        let formattedScore = score.map { String(format: "%.4f", $0) }
        if let filenamePattern {
            let globalStep = step.map(String.init) ?? (scoreFunction == nil ? String(iteration) : "None")
            let values = [
                "filename_prefix": filenamePrefix, "name": toSave.count == 1 ? toSave.keys.first! : "checkpoint",
                "global_step": globalStep, "score_name": scoreName ?? "None",
                "score": formattedScore ?? "None", "ext": "safetensors"
            ]
            var result = ""
            var rest = Substring(filenamePattern)
            while let open = rest.firstIndex(of: "{") {
                result += rest[..<open]
                guard let close = rest[open...].firstIndex(of: "}") else {
                    throw CheckpointError.unknownPlaceholder(String(rest[open...]))
                }
                let key = String(rest[rest.index(after: open)..<close])
                guard let value = values[key] else { throw CheckpointError.unknownPlaceholder(key) }
                result += value
                rest = rest[rest.index(after: close)...]
            }
            return result + rest
        }
        var parts = filenamePrefix.isEmpty ? "" : "\(filenamePrefix)_"
        parts += toSave.count == 1 ? toSave.keys.first! : "checkpoint"
        if let step { parts += "_\(step)" }
        if let scoreName, let formattedScore {
            parts += "_\(scoreName)=\(formattedScore)"
        } else if let formattedScore {
            parts += "_\(formattedScore)"
        } else if step == nil {
            parts += "_\(iteration)"
        }
        return parts + ".safetensors"
    }

    /// Forgets the kept files (Ignite's `reset`), for an engine run again from the start: the files stay on disk.
    public func reset() { saved = [] }

    /// Saves at `event` of `engine` (the iteration and epoch from its state) and fires `.savedCheckpoint` on it
    /// after each file written, registering that event: Ignite's `engine.add_event_handler(event, checkpoint)`, which
    /// `engine.addEventHandler(event, checkpoint)` also is.
    public func attach<Batch, Output>(to engine: Engine<Batch, Output>, event: Event) throws {
        try engine.addEventHandler(event, self)
    }

    /// A checkpoint writing into `directory` (Ignite's `ModelCheckpoint`: a `Checkpoint` with a `DiskSaver`).
    /// - Throws: `CheckpointError` when the directory is missing (and not `createDirectory`) or, with `requireEmpty`,
    ///   holds checkpoints already.
    public convenience init(
        toSave: [String: any Stateful], directory: URL, filenamePrefix: String = "", numberSaved: Int? = 1,
        scoreFunction: (() -> Double)? = nil, scoreName: String? = nil, globalStepTransform: ((Int, Int) -> Int)? = nil,
        createDirectory: Bool = true, requireEmpty: Bool = true, isWriter: Bool = true, includeSelf: Bool = false
    ) throws {
        let saver = try DiskSaver(directory: directory, createDirectory: createDirectory, requireEmpty: requireEmpty, isWriter: isWriter)
        try self.init(
            toSave: toSave, saver: saver, filenamePrefix: filenamePrefix, numberSaved: numberSaved, scoreFunction: scoreFunction,
            scoreName: scoreName, globalStepTransform: globalStepTransform, isWriter: isWriter, includeSelf: includeSelf)
    }

    /// A global step read from another engine (Ignite's `global_step_from_engine`): a checkpoint saved from an
    /// evaluator's events is named by the trainer's epoch (or iteration).
    public static func globalStep(from engine: any AnyEngine, counting counter: EventCounter = .epoch) -> (Int, Int) -> Int {
        { _, _ in counter == .iteration ? engine.engineState.iteration : engine.engineState.epoch }
    }

    /// Registers `.savedCheckpoint` on the engine it is attached to.
    public func prepare(_ engine: any AnyEngine) throws {
        if !engine.isRegistered(.savedCheckpoint) { engine.registerEvents([.savedCheckpoint], counter: .fires) }
    }

    /// Saves at the engine's iteration and epoch, then fires `.savedCheckpoint` when a file was written.
    public func handle(_ engine: any AnyEngine) throws {
        if try save(iteration: engine.engineState.iteration, epoch: engine.engineState.epoch) != nil {
            try engine.fireEvent(.savedCheckpoint)
        }
    }

    public func stateDict() -> StateDict {
        ["saved": .array(saved.map { .dictionary(["priority": .double($0.priority), "filename": .string($0.filename)]) })]
    }

    public func loadStateDict(_ state: StateDict) throws {
        saved = try state.array("saved").enumerated().map { index, value in
            guard case .dictionary(let entry) = value else {
                throw StateDictError.wrongType(key: "saved.\(index)", expected: "a dictionary")
            }
            return (try entry.double("priority"), try entry.string("filename"))
        }
    }

    /// Loads each object's state from a checkpoint tree (a single object may take the whole tree).
    /// - Throws: `CheckpointError` naming the missing object or the object whose state does not fit.
    public static func loadObjects(toLoad: [String: any Stateful], checkpoint: StateDict) throws {
        for name in toLoad.keys.sorted() {
            let object = toLoad[name]!
            let state: StateDict
            if case .dictionary(let nested)? = checkpoint[name] {
                state = nested
            } else if toLoad.count == 1 {
                state = checkpoint
            } else {
                throw CheckpointError.missingObject(name: name)
            }
            do { try object.loadStateDict(state) } catch {
                throw CheckpointError.objectMismatch(name: name, detail: String(describing: error))
            }
        }
    }

    /// The newest checkpoint in `directory` that verifies (by the trainer's saved iteration, else by
    /// modification time), and the newer ones skipped because they do not verify.
    public static func latestValid(in directory: URL) -> (url: URL?, skipped: [(URL, any Error)]) {
        let found = newestValid(in: directory)
        return (found.checkpoint?.url, found.skipped)
    }

    /// `latestValid(in:)` with the chosen file's bytes and decoded state, so that it is read and verified once.
    public static func newestValid(in directory: URL) -> (
        checkpoint: (url: URL, bytes: [UInt8], state: StateDict)?, skipped: [(URL, any Error)]
    ) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }
        var best: (url: URL, bytes: [UInt8], state: StateDict, order: Double, modified: Double)?
        var invalid: [(url: URL, order: Double, error: any Error)] = []
        for name in names {
            let url = directory.appendingPathComponent(name)
            let modified =
                ((try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate]) as? Date)?
                .timeIntervalSince1970 ?? 0
            do {
                let bytes = try CheckpointFile.read(bytesAt: url)
                let tree = try CheckpointFile.decode(bytes, source: url.path)
                var order = modified
                if case .dictionary(let trainer)? = tree["trainer"], case .int(let iteration)? = trainer["iteration"] {
                    order = Double(iteration)
                }
                // Only the best so far is kept in memory.
                if best == nil || order > best!.order { best = (url, bytes, tree, order, modified) }
            } catch {
                invalid.append((url, modified, error))
            }
        }
        let newestValidTime = best?.modified ?? -Double.infinity
        let skipped = invalid.filter { $0.order >= newestValidTime }.map { ($0.url, $0.error) }
        return (best.map { ($0.url, $0.bytes, $0.state) }, skipped)
    }
}

extension Event {
    /// Fired after a checkpoint file was saved (Ignite's `Checkpoint.SAVED_CHECKPOINT`), on every rank in step.
    public static let savedCheckpoint = Event("saved_checkpoint")
}
