import Foundation
import NeuralNet

/// Labelled samples in memory: row-major features and integer class labels.
public struct Dataset: Sendable, Equatable {
    /// Features, `count x featureCount`, row-major.
    public var features: [Float]
    /// Features per sample.
    public let featureCount: Int
    /// Class of each sample, in `0..<classCount`.
    public var labels: [Int32]
    /// Number of classes.
    public let classCount: Int
    /// The original label text of each class, in class order.
    public let classNames: [String]
    /// Per-sample shape: `[featureCount]` for tables, `[channels, height, width]` for images.
    public let sampleShape: [Int]
    /// A regression's target of each sample (the label read as a number); nil for classification.
    public var targetValues: [Float]?
    /// Per-position targets of each sample (a language model's next tokens), `count x sequenceTargetLength`,
    /// row-major; nil when each sample has one label. Batches then carry targets [batch, length].
    public var sequenceTargets: [Float]?
    /// Targets per sample in `sequenceTargets`.
    public var sequenceTargetLength = 0
    /// The named columns the samples came from (a CSV file with a header); nil for unnamed data.
    public var layout: TableLayout?

    /// A data set; `features.count` must be `labels.count x featureCount`.
    public init(features: [Float], featureCount: Int, labels: [Int32], classNames: [String], sampleShape: [Int]? = nil) {
        precondition(featureCount > 0 && features.count == labels.count * featureCount, "features and labels disagree")
        self.features = features
        self.featureCount = featureCount
        self.labels = labels
        self.classNames = classNames
        classCount = classNames.count
        self.sampleShape = sampleShape ?? [featureCount]
        precondition(self.sampleShape.reduce(1, *) == featureCount, "sample shape disagrees with the feature count")
    }

    /// Number of samples.
    public var count: Int { labels.count }

    /// Each label's text read as a number, per sample; nil when a label is not a finite number.
    public var numericLabels: [Double]? {
        let values = classNames.map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard values.allSatisfy({ $0?.isFinite == true }) else { return nil }
        return labels.map { values[Int($0)]! }
    }

    /// The same samples as a regression: the targets are the labels read as numbers.
    /// - Throws: `DatasetError.nonNumericTarget` naming a label that is not a number.
    public func asRegression() throws -> Dataset {
        guard let numbers = numericLabels else {
            let bad = classNames.first { Double($0.trimmingCharacters(in: .whitespaces))?.isFinite != true } ?? "?"
            throw DatasetError.nonNumericTarget(bad)
        }
        var result = self
        result.targetValues = numbers.map { Float($0) }
        return result
    }

    /// These samples followed by `other`'s (the same kind of data: features, classes, targets).
    /// - Throws: `DatasetError.incompatible` when the two hold different kinds of samples.
    public func appending(_ other: Dataset) throws -> Dataset {
        guard other.featureCount == featureCount, other.sampleShape == sampleShape, other.classNames == classNames,
            (other.targetValues == nil) == (targetValues == nil), (other.sequenceTargets == nil) == (sequenceTargets == nil),
            other.sequenceTargetLength == sequenceTargetLength
        else {
            throw DatasetError.incompatible("samples of shape \(other.sampleShape) cannot follow samples of shape \(sampleShape)")
        }
        var result = self
        result.features += other.features
        result.labels += other.labels
        if let values = targetValues { result.targetValues = values + (other.targetValues ?? []) }
        if let targets = sequenceTargets { result.sequenceTargets = targets + (other.sequenceTargets ?? []) }
        return result
    }

    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        var subsetFeatures: [Float] = []
        subsetFeatures.reserveCapacity(indices.count * featureCount)
        for index in indices {
            subsetFeatures.append(contentsOf: features[(index * featureCount)..<((index + 1) * featureCount)])
        }
        var subset = Dataset(
            features: subsetFeatures, featureCount: featureCount, labels: indices.map { labels[$0] },
            classNames: classNames, sampleShape: sampleShape)
        subset.targetValues = targetValues.map { values in indices.map { values[$0] } }
        subset.layout = layout
        if let sequenceTargets {
            let length = sequenceTargetLength
            subset.sequenceTargets = indices.flatMap { sequenceTargets[($0 * length)..<(($0 + 1) * length)] }
            subset.sequenceTargetLength = length
        }
        return subset
    }

    /// A seeded shuffle split: the first `round(count x testFraction)` shuffled samples test, the rest train.
    public func split(testFraction: Double, using generator: inout some RandomNumberGenerator) -> (train: Dataset, test: Dataset) {
        var order = Array(0..<count)
        if count > 1 {
            for index in stride(from: count - 1, to: 0, by: -1) {
                order.swapAt(index, Int(generator.next() % UInt64(index + 1)))
            }
        }
        let testCount = min(count - 1, max(1, Int((Double(count) * testFraction).rounded())))
        return (subset(Array(order[testCount...])), subset(Array(order[..<testCount])))
    }

    /// The samples at `indices` as a batch: inputs `[count] + sampleShape` and class indices `[count]`.
    public func batch(_ indices: some Collection<Int>) -> (inputs: Tensor, targets: Tensor) {
        let count = indices.count
        let width = featureCount
        let inputs = features.withUnsafeBufferPointer { source in
            Tensor(shape: [count] + sampleShape) { target in
                var row = 0
                for index in indices {
                    precondition(index >= 0 && index < self.count, "sample index \(index) outside 0..<\(self.count)")
                    (target.baseAddress! + row * width).update(from: source.baseAddress! + index * width, count: width)
                    row += 1
                }
            }
        }
        if let targetValues {
            return (inputs, Tensor(shape: [count, 1], values: indices.map { targetValues[$0] }))
        }
        if let sequenceTargets {
            let length = sequenceTargetLength
            return (inputs, Tensor(shape: [count, length], values: indices.flatMap { sequenceTargets[($0 * length)..<(($0 + 1) * length)] }))
        }
        let targets = Tensor(shape: [count], values: indices.map { Float(labels[$0]) })
        return (inputs, targets)
    }
}

/// A data file that cannot be used, with where the problem is.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    /// At most ten names, quoted, then how many more.
    static func list(_ names: [String]) -> String {
        let shown = names.prefix(10).map { "'\($0)'" }.joined(separator: ", ")
        return names.count > 10 ? shown + " and \(names.count - 10) more" : shown
    }

    case unreadable(path: String, reason: String)
    case empty(path: String)
    case badValue(path: String, line: Int, column: Int, text: String)
    case wrongFieldCount(path: String, line: Int, found: Int, expected: Int)
    case missingLabelColumn(path: String, name: String)
    case badIDX(path: String, reason: String)
    case nonNumericTarget(String)
    case missingHeader(path: String, columns: [String])
    case columnMismatch(path: String, missing: [String], unexpected: [String])
    case duplicateColumn(path: String, name: String)
    case unknownClasses(path: String, labels: [String], known: [String])
    case incompatible(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .empty(let path): "\(path): empty file: no data rows"
        case .badValue(let path, let line, let column, let text):
            "\(path): line \(line), column \(column): '\(text)' is not a finite number"
        case .wrongFieldCount(let path, let line, let found, let expected):
            "\(path): line \(line) has \(found) fields, expected \(expected)"
        case .missingLabelColumn(let path, let name): "\(path): no column named '\(name)' in the header"
        case .badIDX(let path, let reason): "\(path): not a valid IDX file: \(reason)"
        case .nonNumericTarget(let label): "label '\(label)' is not a number, so the data cannot be a regression"
        case .missingHeader(let path, let columns):
            "\(path): no header line, but the columns are named (\(columns.joined(separator: ","))): add the header so they are matched by name"
        case .columnMismatch(let path, let missing, let unexpected):
            "\(path): the columns differ from the model's: "
                + [
                    missing.isEmpty ? nil : "missing \(missing.map { "'\($0)'" }.joined(separator: ", "))",
                    unexpected.isEmpty ? nil : "not in the training data \(unexpected.map { "'\($0)'" }.joined(separator: ", "))"
                ]
                .compactMap { $0 }.joined(separator: "; ")
        case .duplicateColumn(let path, let name): "\(path): the header names column '\(name)' twice"
        case .incompatible(let reason): reason
        case .unknownClasses(let path, let labels, let known):
            "\(path): labels outside the model's classes: \(Self.list(labels)) (the model knows \(Self.list(known)))"
        }
    }
}

/// Data files are regular files: a pipe, a device or a directory would be read forever (`/dev/zero`), read once where
/// loading reads twice (`<(command)`), or not at all.
enum DataFile {
    /// Nil when `path` is a regular file; otherwise why it cannot be read as data.
    static func problem(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else {
            return FileManager.default.fileExists(atPath: path) ? "cannot open the file" : "no such file"
        }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory, not a file"
        default: return "not a regular file (a pipe or a device); copy the data to a file"
        }
    }
}
