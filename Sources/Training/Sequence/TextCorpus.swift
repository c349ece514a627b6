import Foundation

/// What is wrong with a text for a language model.
public enum TextCorpusError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case binary(path: String, offset: Int)
    case tooShort(path: String, bytes: Int, window: Int)
    case badSplit(reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read text \(path): \(reason)"
        case .empty(let path): "text \(path) is empty"
        case .binary(let path, let offset):
            "\(path) is not text (a NUL byte or invalid UTF-8 at byte \(offset)): give a UTF-8 text file"
        case .tooShort(let path, let bytes, let window):
            "text \(path) has \(bytes) bytes, fewer than one window of \(window) (context + 1): use a longer text or a smaller --context"
        case .badSplit(let reason): "cannot split the text: \(reason)"
        }
    }
}

/// A text as a sequence of byte tokens (vocabulary 256, no tokenizer), cut into language-model windows.
public struct TextCorpus: Sendable, Equatable {
    /// The vocabulary of byte tokens.
    public static let vocabulary = 256
    /// The bytes.
    public let bytes: [UInt8]
    /// Where it came from (for errors).
    public let source: String

    /// The text held in `bytes`.
    /// - Throws: `TextCorpusError` for an empty or binary text (a NUL byte or invalid UTF-8).
    public init(bytes: [UInt8], source: String = "text") throws {
        guard !bytes.isEmpty else { throw TextCorpusError.empty(path: source) }
        if let nul = bytes.firstIndex(of: 0) { throw TextCorpusError.binary(path: source, offset: nul) }
        if String(validating: bytes, as: UTF8.self) == nil {
            // Find the first offending byte for the message.
            var offset = 0
            var iterator = bytes.makeIterator()
            var decoder = UTF8()
            decoding: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar): offset += String(scalar).utf8.count
                case .emptyInput: break decoding
                case .error: break decoding
                }
            }
            throw TextCorpusError.binary(path: source, offset: offset)
        }
        self.bytes = bytes
        self.source = source
    }

    /// The text of the file at `path`.
    /// - Throws: `TextCorpusError` for an unreadable, empty or binary file.
    public init(contentsOf path: String) throws {
        if let problem = DataFile.problem(path) { throw TextCorpusError.unreadable(path: path, reason: problem) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TextCorpusError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        try self.init(bytes: [UInt8](data), source: path)
    }

    /// Contiguous, non-overlapping windows of `context + 1` bytes: each sample's inputs are its first `context`
    /// tokens and its targets the `context` tokens after each of them. A seeded shuffle puts a `validationFraction`
    /// of the windows (at least one when there are two or more) in the validation set.
    /// - Throws: `TextCorpusError.tooShort` when the text holds no window.
    public func languageModelWindows(context: Int, validationFraction: Double, seed: UInt64) throws -> (train: Dataset, validation: Dataset) {
        guard context > 0 else { throw TextCorpusError.badSplit(reason: "the context must be positive, got \(context)") }
        guard validationFraction >= 0, validationFraction < 1 else {
            throw TextCorpusError.badSplit(reason: "the validation fraction must be in [0, 1), got \(validationFraction)")
        }
        let windows = (bytes.count - 1) / context
        guard windows >= 1, bytes.count >= context + 1 else {
            throw TextCorpusError.tooShort(path: source, bytes: bytes.count, window: context + 1)
        }
        var features = [Float]()
        var targets = [Float]()
        features.reserveCapacity(windows * context)
        targets.reserveCapacity(windows * context)
        for window in 0..<windows {
            let start = window * context
            for position in 0..<context {
                features.append(Float(bytes[start + position]))
                targets.append(Float(bytes[start + position + 1]))
            }
        }
        var all = Dataset(
            features: features, featureCount: context, labels: [Int32](repeating: 0, count: windows),
            classNames: (0..<Self.vocabulary).map { String($0) }, sampleShape: [context])
        all.sequenceTargets = targets
        all.sequenceTargetLength = context
        var random = SeededOrder(seed: seed)
        var order = Array(0..<windows)
        order.shuffle(using: &random)
        let validationCount = windows < 2 ? 0 : Swift.max(1, Int((Double(windows) * validationFraction).rounded()))
        let validation = validationFraction == 0 ? [] : Array(order.prefix(Swift.min(validationCount, windows - 1)))
        let train = Array(order.dropFirst(validation.count)).sorted()
        return (all.subset(train), all.subset(validation.sorted()))
    }
}

/// The seeded order of a corpus split (SplitMix64), the same on every machine.
struct SeededOrder: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x5851_F42D_4C95_7F2D }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
