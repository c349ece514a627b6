import Foundation

/// Which column of a CSV file holds the label.
public enum LabelColumn: Sendable, Equatable {
    case last
    case named(String)
}

/// Loads labelled samples from a CSV file: numeric feature columns and one label column.
///
/// A header is detected when the first row has a non-numeric feature field (or when the label column is
/// named). Fields may be quoted; blank lines are ignored. Every feature must be a finite number: `nan` and
/// `inf` are refused with their line and column. Labels may be numbers or text; classes are numbered in
/// numeric (or, for text, lexical) order.
public enum CSVDataset {
    /// The data set in `path`.
    /// - Throws: `DatasetError` naming the file, and the line and column of a bad value.
    public static func load(path: String, labelColumn: LabelColumn = .last) throws -> Dataset {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not UTF-8 text" : "no such file"
            throw DatasetError.unreadable(path: path, reason: reason)
        }
        var rows: [(line: Int, fields: [String])] = []
        var lineNumber = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "\r" { continue }
            rows.append((lineNumber, parseFields(String(line))))
        }
        guard let first = rows.first else { throw DatasetError.empty(path: path) }
        let width = first.fields.count
        guard width >= 2 else {
            throw DatasetError.wrongFieldCount(path: path, line: first.line, found: width, expected: 2)
        }
        var labelIndex = width - 1
        var hasHeader = false
        switch labelColumn {
        case .last:
            hasHeader = first.fields.dropLast().contains { Float($0.trimmingCharacters(in: .whitespaces)) == nil }
        case .named(let name):
            hasHeader = true
            guard let index = first.fields.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == name }) else {
                throw DatasetError.missingLabelColumn(path: path, name: name)
            }
            labelIndex = index
        }
        let dataRows = hasHeader ? Array(rows.dropFirst()) : rows
        guard !dataRows.isEmpty else { throw DatasetError.empty(path: path) }
        let featureCount = width - 1
        var features: [Float] = []
        features.reserveCapacity(dataRows.count * featureCount)
        var labelTexts: [String] = []
        labelTexts.reserveCapacity(dataRows.count)
        for row in dataRows {
            guard row.fields.count == width else {
                throw DatasetError.wrongFieldCount(path: path, line: row.line, found: row.fields.count, expected: width)
            }
            for (column, field) in row.fields.enumerated() {
                let value = field.trimmingCharacters(in: .whitespaces)
                if column == labelIndex {
                    guard !value.isEmpty else {
                        throw DatasetError.badValue(path: path, line: row.line, column: column + 1, text: value)
                    }
                    labelTexts.append(value)
                } else {
                    guard let number = Float(value), number.isFinite else {
                        throw DatasetError.badValue(path: path, line: row.line, column: column + 1, text: value)
                    }
                    features.append(number)
                }
            }
        }
        let distinct = Set(labelTexts)
        let classNames: [String] = distinct.allSatisfy({ Double($0) != nil })
            ? distinct.sorted { Double($0)! < Double($1)! }
            : distinct.sorted()
        let classOf = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, Int32($0)) })
        return Dataset(features: features, featureCount: featureCount, labels: labelTexts.map { classOf[$0]! },
                       classNames: classNames)
    }

    /// Splits one CSV line into fields, honouring double quotes ("" is a literal quote).
    static func parseFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = line.makeIterator()
        while let character = iterator.next() {
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else {
                            quoted = false
                            if next == "," { fields.append(current); current = "" } else if next != "\r" { current.append(next) }
                        }
                    } else { quoted = false }
                } else { current.append(character) }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                fields.append(current)
                current = ""
            } else if character != "\r" {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}
