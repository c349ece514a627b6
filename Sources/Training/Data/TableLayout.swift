/// The named columns of a table a model was trained on: its features in order and its label, so that data laid out
/// differently (columns permuted, one missing or added, the label elsewhere) is matched by name or refused.
public struct TableLayout: Sendable, Equatable, Codable {
    /// The feature columns' names, in the model's input order.
    public var featureNames: [String]
    /// The label column's name.
    public var labelName: String

    /// A layout of these feature names and this label.
    public init(featureNames: [String], labelName: String) {
        self.featureNames = featureNames
        self.labelName = labelName
    }

    /// For each of the model's features, its column among `header`'s fields; `label` is skipped when present.
    /// - Throws: `DatasetError` naming the missing, unexpected or repeated columns.
    public func columns(in header: [String], path: String, dropping label: String?) throws -> [Int] {
        var indexOf: [String: Int] = [:]
        for (index, name) in header.enumerated() {
            guard indexOf[name] == nil else { throw DatasetError.duplicateColumn(path: path, name: name) }
            indexOf[name] = index
        }
        let missing = featureNames.filter { indexOf[$0] == nil }
        let known = Set(featureNames).union(label.map { [$0] } ?? [])
        let unexpected = header.filter { !known.contains($0) }
        guard missing.isEmpty && unexpected.isEmpty else {
            throw DatasetError.columnMismatch(path: path, missing: missing, unexpected: unexpected)
        }
        return featureNames.map { indexOf[$0]! }
    }
}

extension Dataset {
    /// The same samples with their features in `layout`'s order (matched by name).
    /// - Throws: `DatasetError` when this data has no header or its columns differ from the layout's.
    public func arranged(as layout: TableLayout, path: String) throws -> Dataset {
        guard let mine = self.layout else {
            throw DatasetError.missingHeader(path: path, columns: layout.featureNames + [layout.labelName])
        }
        let columns = try layout.columns(in: mine.featureNames, path: path, dropping: nil)
        if columns == Array(0..<featureCount) {
            var same = self
            same.layout = layout
            return same
        }
        var arranged = features
        for row in 0..<count {
            for (target, source) in columns.enumerated() {
                arranged[row * featureCount + target] = features[row * featureCount + source]
            }
        }
        var result = self
        result.features = arranged
        result.layout = layout
        return result
    }

    /// The same samples with labels numbered by `classes` (a model's classes): the same text, or the same number
    /// ("1" and "1.0"), is the same class.
    /// - Throws: `DatasetError.unknownClasses` listing the labels the model never saw.
    public func relabeled(toClasses classes: [String], path: String) throws -> Dataset {
        var indexOfName: [String: Int32] = [:]
        var indexOfNumber: [Double: Int32] = [:]
        for (index, name) in classes.enumerated() {
            indexOfName[name] = Int32(index)
            if let number = Double(name), number.isFinite, indexOfNumber[number] == nil { indexOfNumber[number] = Int32(index) }
        }
        var mapping: [Int32] = []
        var unknown: [String] = []
        for name in classNames {
            if let index = indexOfName[name] ?? Double(name).flatMap({ indexOfNumber[$0] }) {
                mapping.append(index)
            } else {
                unknown.append(name)
                mapping.append(-1)
            }
        }
        guard unknown.isEmpty else { throw DatasetError.unknownClasses(path: path, labels: unknown, known: classes) }
        var result = Dataset(
            features: features, featureCount: featureCount, labels: labels.map { mapping[Int($0)] },
            classNames: classes, sampleShape: sampleShape)
        result.targetValues = targetValues
        result.sequenceTargets = sequenceTargets
        result.sequenceTargetLength = sequenceTargetLength
        result.layout = layout
        return result
    }
}
