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
        var notes: [String] = []
        return try load(path: path, labelColumn: labelColumn, notes: &notes)
    }

    /// The data set in `path`, read and checked line by line as it streams in, so a bad line is reported when
    /// it is met (not after the whole file is in memory). Numeric labels that spell the same number ("1", "1.0")
    /// are one class; `notes` says which were merged.
    /// - Throws: `DatasetError` naming the file, and the line and column of a bad value.
    public static func load(path: String, labelColumn: LabelColumn = .last, notes: inout [String]) throws -> Dataset {
        var parser = RowParser(path: path, labelColumn: labelColumn)
        try forEachLine(path: path) { bytes, line in try parser.consume(bytes, line: line) }
        return try parser.dataset(notes: &notes)
    }

    /// The feature rows of a file for prediction: rows of `featureCount` numbers, or of `featureCount + 1` fields
    /// of which the label column (named in a header, or the last) is dropped. A header row is skipped. With the
    /// model's `layout`, the file must have a header and its columns are matched by name (the label's is optional).
    /// - Throws: `DatasetError` naming the file, line and column of a bad value, a row of another width, or the
    ///   columns that differ from the layout's.
    public static func loadFeatures(
        path: String, featureCount: Int, labelColumn: LabelColumn = .last,
        layout: TableLayout? = nil
    ) throws -> [[Float]] {
        var rows: [[Float]] = []
        var dropped: Int?
        var picked: [Int]?
        var width = 0
        var sawFirst = false
        try forEachLine(path: path) { bytes, line in
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw DatasetError.unreadable(path: path, reason: "line \(line) is not UTF-8 text")
            }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "\r" { return }
            let fields = parseFields(text).map { $0.trimmingCharacters(in: .whitespaces) }
            if !sawFirst, let layout {
                sawFirst = true
                width = fields.count
                guard fields.contains(where: { Float($0) == nil }) else {
                    throw DatasetError.missingHeader(path: path, columns: layout.featureNames + [layout.labelName])
                }
                var label = layout.labelName
                if case .named(let name) = labelColumn { label = name }
                picked = try layout.columns(in: fields, path: path, dropping: label)
                return
            }
            if let picked {
                guard fields.count == width else {
                    throw DatasetError.wrongFieldCount(path: path, line: line, found: fields.count, expected: width)
                }
                var values: [Float] = []
                values.reserveCapacity(picked.count)
                for column in picked {
                    guard let value = Float(fields[column]), value.isFinite else {
                        throw DatasetError.badValue(path: path, line: line, column: column + 1, text: fields[column])
                    }
                    values.append(value)
                }
                rows.append(values)
                return
            }
            guard fields.count == featureCount || fields.count == featureCount + 1 else {
                throw DatasetError.wrongFieldCount(path: path, line: line, found: fields.count, expected: featureCount)
            }
            if !sawFirst {
                sawFirst = true
                if fields.count == featureCount + 1 {
                    dropped = fields.count - 1
                    if case .named(let name) = labelColumn, let index = fields.firstIndex(of: name) { dropped = index }
                }
                if fields.contains(where: { Float($0) == nil }) { return }
            }
            var values: [Float] = []
            for (column, field) in fields.enumerated() where column != dropped {
                guard let value = Float(field), value.isFinite else {
                    throw DatasetError.badValue(path: path, line: line, column: column + 1, text: field)
                }
                values.append(value)
            }
            guard values.count == featureCount else {
                throw DatasetError.wrongFieldCount(path: path, line: line, found: fields.count, expected: featureCount)
            }
            rows.append(values)
        }
        guard !rows.isEmpty else { throw DatasetError.empty(path: path) }
        return rows
    }

    /// About how many rows and columns the file holds, from its size and its first lines (at most 1 MiB is read):
    /// enough to refuse a file that cannot fit in memory before loading it.
    /// - Throws: `DatasetError.unreadable` when the file cannot be read.
    public static func estimatedShape(path: String) throws -> (rows: Int, columns: Int) {
        if let problem = DataFile.problem(path) { throw DatasetError.unreadable(path: path, reason: problem) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot open the file" : "no such file"
            throw DatasetError.unreadable(path: path, reason: reason)
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: 0)
        let head = [UInt8]((try? handle.read(upToCount: 1 << 20)) ?? Data())
        let lines = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        let complete = head.count < (1 << 20) ? lines : lines.dropLast()
        guard let first = complete.first ?? lines.first else { return (0, 0) }
        let columns = first.filter { $0 == UInt8(ascii: ",") }.count + 1
        let sampled = complete.dropFirst().prefix(1000)
        let bytesPerRow = sampled.isEmpty ? Double(first.count + 1) : Double(sampled.reduce(0) { $0 + $1.count + 1 }) / Double(sampled.count)
        return (Int((Double(size) / Swift.max(bytesPerRow, 1)).rounded(.up)), columns)
    }

    /// Calls `body` with each line of the file (without its newline) and its number, reading 1 MiB at a time, so
    /// a bad line is met before the rest of the file is read.
    static func forEachLine(path: String, _ body: (ArraySlice<UInt8>, Int) throws -> Void) throws {
        if let problem = DataFile.problem(path) { throw DatasetError.unreadable(path: path, reason: problem) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot open the file" : "no such file"
            throw DatasetError.unreadable(path: path, reason: reason)
        }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        var lineNumber = 0
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch {
                throw DatasetError.unreadable(path: path, reason: "\(error)")
            }
            if chunk.isEmpty { break }
            pending.append(contentsOf: chunk)
            var start = 0
            // A byte-order mark some editors put first is not part of the first field's name.
            if lineNumber == 0, start == 0, pending.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
            while let end = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                lineNumber += 1
                try body(pending[start..<end], lineNumber)
                start = end + 1
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { try body(pending[...], lineNumber + 1) }
    }

    /// The rows of one file, validated as they arrive.
    struct RowParser {
        let path: String
        let labelColumn: LabelColumn
        var width = 0
        var labelIndex = 0
        var sawFirstRow = false
        var features: [Float] = []
        var labelTexts: [String] = []
        /// The header's fields, when the file has one.
        var header: [String]?

        init(path: String, labelColumn: LabelColumn) {
            self.path = path
            self.labelColumn = labelColumn
        }

        mutating func consume(_ bytes: ArraySlice<UInt8>, line: Int) throws {
            if sawFirstRow, try consumeUnquoted(bytes, line: line) { return }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw DatasetError.unreadable(path: path, reason: "line \(line) is not UTF-8 text")
            }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "\r" { return }
            let fields = CSVDataset.parseFields(text)
            if !sawFirstRow {
                sawFirstRow = true
                width = fields.count
                guard width >= 2 else { throw DatasetError.wrongFieldCount(path: path, line: line, found: width, expected: 2) }
                labelIndex = width - 1
                switch labelColumn {
                case .last:
                    if fields.dropLast().contains(where: { Float($0.trimmingCharacters(in: .whitespaces)) == nil }) {
                        header = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                        return
                    }
                case .named(let name):
                    let names = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                    guard let index = names.firstIndex(of: name) else {
                        if names.allSatisfy({ Float($0) != nil }) { throw DatasetError.missingHeader(path: path, columns: [name]) }
                        throw DatasetError.missingLabelColumn(path: path, name: name)
                    }
                    labelIndex = index
                    header = names
                    return
                }
            }
            guard fields.count == width else {
                throw DatasetError.wrongFieldCount(path: path, line: line, found: fields.count, expected: width)
            }
            for (column, field) in fields.enumerated() {
                let value = field.trimmingCharacters(in: .whitespaces)
                if column == labelIndex {
                    guard !value.isEmpty else { throw DatasetError.badValue(path: path, line: line, column: column + 1, text: value) }
                    labelTexts.append(value)
                } else {
                    guard let number = Float(value), number.isFinite else {
                        throw DatasetError.badValue(path: path, line: line, column: column + 1, text: value)
                    }
                    features.append(number)
                }
            }
        }

        /// A data row without quotes, split and parsed on its bytes (most rows: a CSV of numbers reads at the disk's
        /// pace, not at a character-by-character parser's); false for a row this path does not take (quotes,
        /// non-ASCII bytes, a blank line), which the general path then reads.
        mutating func consumeUnquoted(_ bytes: ArraySlice<UInt8>, line: Int) throws -> Bool {
            let rowStart = features.count
            var fieldStart = bytes.startIndex
            var column = 0
            var label: ArraySlice<UInt8> = []
            // Anything unusual (quotes, non-ASCII, a blank line, a bad value, another width) goes to the general
            // path, which reads it or reports it in its own words.
            func fallBack() -> Bool {
                features.removeSubrange(rowStart...)
                return false
            }
            for index in bytes.startIndex...bytes.endIndex {
                let byte = index < bytes.endIndex ? bytes[index] : UInt8(ascii: ",")
                if byte >= 0x80 || byte == UInt8(ascii: "\"") { return fallBack() }
                guard byte == UInt8(ascii: ",") else { continue }
                let field = CSVDataset.trimmed(bytes[fieldStart..<index])
                guard column < width, !field.isEmpty else { return fallBack() }
                if column == labelIndex {
                    label = field
                } else {
                    guard let value = CSVDataset.float(field), value.isFinite else { return fallBack() }
                    features.append(value)
                }
                column += 1
                fieldStart = index + 1
            }
            guard column == width else { return fallBack() }
            labelTexts.append(String(decoding: label, as: UTF8.self))
            return true
        }

        /// The data set, classes numbered in numeric (or, for text, lexical) order; spellings of one number merged.
        func dataset(notes: inout [String]) throws -> Dataset {
            guard !labelTexts.isEmpty else { throw DatasetError.empty(path: path) }
            let distinct = Set(labelTexts)
            let numbers = distinct.map { Double($0) }
            var classOfText: [String: Int32] = [:]
            var classNames: [String]
            if numbers.allSatisfy({ $0?.isFinite == true }) {
                var spellings: [Double: [String]] = [:]
                for text in distinct { spellings[Double(text)!, default: []].append(text) }
                let values = spellings.keys.sorted()
                classNames = values.map { value in
                    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
                }
                for (index, value) in values.enumerated() {
                    for text in spellings[value]! { classOfText[text] = Int32(index) }
                    if spellings[value]!.count > 1 {
                        notes.append(
                            "\(path): labels \(spellings[value]!.sorted().map { "'\($0)'" }.joined(separator: " and ")) "
                                + "are the same number, one class \(classNames[index])")
                    }
                }
            } else {
                classNames = distinct.sorted()
                for (index, name) in classNames.enumerated() { classOfText[name] = Int32(index) }
            }
            var dataset = Dataset(
                features: features, featureCount: width - 1, labels: labelTexts.map { classOfText[$0]! },
                classNames: classNames)
            if let header {
                var names = header
                let label = names.remove(at: labelIndex)
                dataset.layout = TableLayout(featureNames: names, labelName: label)
            }
            return dataset
        }
    }

    /// The field without spaces, tabs and carriage returns around it.
    @inline(__always)
    static func trimmed(_ field: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lower = field.startIndex
        var upper = field.endIndex
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }
        while lower < upper, isSpace(field[lower]) { lower += 1 }
        while upper > lower, isSpace(field[upper - 1]) { upper -= 1 }
        return field[lower..<upper]
    }

    /// The ASCII field as a number, as `Float(String)` reads it (the C library's `strtof`), without a String.
    @inline(__always)
    static func float(_ field: ArraySlice<UInt8>) -> Float? {
        guard !field.isEmpty, field.count < 64 else { return field.isEmpty ? nil : Float(String(decoding: field, as: UTF8.self)) }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> Float? in
            var count = 0
            for byte in field {
                buffer[count] = CChar(bitPattern: byte)
                count += 1
            }
            buffer[count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtof(buffer.baseAddress!, &end)
            guard end == buffer.baseAddress! + count, !(field.first! == 0x20) else { return nil }
            return value
        }
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
                        if next == "\"" {
                            current.append("\"")
                        } else {
                            quoted = false
                            if next == "," {
                                fields.append(current)
                                current = ""
                            } else if next != "\r" {
                                current.append(next)
                            }
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(character)
                }
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
