/// A configuration file read as what it must be: a small, flat mapping from option names to single values.
///
/// Two spellings are accepted, the YAML block form (`epochs: 20`, one per line, `#` comments) and the flow or JSON
/// form (`{"epochs": 20}`). Nothing a general YAML reader would expand is read: no nesting, lists, anchors, aliases,
/// merge keys, tags, complex keys or block scalars, so a file cannot make the reader recurse, loop or allocate more
/// than its own size. Values keep the text the user typed; whether it is quoted is kept for the caller to judge.
public struct ConfigurationEntry: Sendable, Equatable {
    /// The option name, as written.
    public let key: String
    /// The value's text, unquoted and unescaped.
    public let text: String
    /// Whether the value was written in quotes (then it is a string, whatever it looks like).
    public let isQuoted: Bool
    /// The 1-based line the entry starts on.
    public let line: Int
}

/// Why a configuration file cannot be read; each case names the line and what was found there.
public enum ConfigurationDocumentError: Error, Equatable, CustomStringConvertible {
    case tooLarge(bytes: Int, limit: Int)
    case notText
    case malformed(line: Int, reason: String)
    case duplicateKey(String, firstLine: Int, line: Int)
    case tooManyEntries(limit: Int)

    public var description: String {
        switch self {
        case .tooLarge(let bytes, let limit):
            "the configuration file is \(bytes) bytes; a configuration is at most \(limit) bytes"
        case .notText: "the configuration file is not UTF-8 text"
        case .malformed(let line, let reason): "line \(line): \(reason)"
        case .duplicateKey(let key, let first, let line):
            "line \(line): '\(key)' is given twice (first on line \(first)); give each option once"
        case .tooManyEntries(let limit): "the configuration has more than \(limit) options"
        }
    }
}

/// Reads configuration files into entries (see `ConfigurationEntry`).
public enum ConfigurationDocument {
    /// The largest file read: a configuration is a few hundred bytes; this bounds time and memory, not use.
    public static let maximumBytes = 64 * 1024
    /// The most entries a file may hold.
    public static let maximumEntries = 256

    /// The entries of a configuration file's bytes, in file order.
    /// - Throws: `ConfigurationDocumentError` for anything that is not a flat mapping of single values.
    public static func entries(in bytes: [UInt8]) throws -> [ConfigurationEntry] {
        guard bytes.count <= maximumBytes else { throw ConfigurationDocumentError.tooLarge(bytes: bytes.count, limit: maximumBytes) }
        guard let text = String(validating: bytes, as: UTF8.self), !text.unicodeScalars.contains("\0") else {
            throw ConfigurationDocumentError.notText
        }
        var scanner = ConfigurationScanner(text: text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text)
        let entries = try scanner.document()
        var seen: [String: Int] = [:]
        for entry in entries {
            if let first = seen[entry.key] {
                throw ConfigurationDocumentError.duplicateKey(entry.key, firstLine: first, line: entry.line)
            }
            seen[entry.key] = entry.line
        }
        guard entries.count <= maximumEntries else { throw ConfigurationDocumentError.tooManyEntries(limit: maximumEntries) }
        return entries
    }
}

/// A one-pass scanner over the file's characters (no recursion: the depth of anything is refused at its first mark).
private struct ConfigurationScanner {
    /// Unicode scalars, not Characters: "\r\n" is one Character, and a Windows line end must end a line.
    let characters: [Unicode.Scalar]
    var index = 0
    var line = 1
    var lineStart = 0

    init(text: String) { characters = Array(text.unicodeScalars) }

    var current: Unicode.Scalar? { index < characters.count ? characters[index] : nil }

    mutating func advance() {
        if current == "\n" {
            line += 1
            lineStart = index + 1
        }
        index += 1
    }

    func fail(_ reason: String) -> ConfigurationDocumentError { .malformed(line: line, reason: reason) }

    /// Skips spaces, tabs, carriage returns, and (when `newlines`) line ends and whole-line comments.
    mutating func skipSpace(newlines: Bool) {
        while let character = current {
            if character == " " || character == "\t" || character == "\r" || (newlines && character == "\n") {
                advance()
            } else if character == "#" {
                while let c = current, c != "\n" { advance() }
                if !newlines { return }
            } else {
                return
            }
        }
    }

    mutating func document() throws -> [ConfigurationEntry] {
        skipSpace(newlines: true)
        if startsLine(with: "---") {
            index += 3
            skipSpace(newlines: true)
        }
        if current == "{" { return try flowMapping() }
        return try blockMapping()
    }

    func startsLine(with marker: String) -> Bool {
        let end = index + marker.count
        guard end <= characters.count, String(String.UnicodeScalarView(characters[index..<end])) == marker else { return false }
        return end == characters.count || [" ", "\n", "\r", "\t"].contains(characters[end])
    }

    // MARK: Block form: `key: value` lines at the left margin.

    mutating func blockMapping() throws -> [ConfigurationEntry] {
        var entries: [ConfigurationEntry] = []
        while true {
            skipSpace(newlines: true)
            guard let character = current else { return entries }
            if startsLine(with: "...") { return try end(entries) }
            if startsLine(with: "---") { throw fail("a configuration file holds one document") }
            if index > lineStart {
                throw fail("indented lines are not read: a configuration is a flat mapping of option names to single values")
            }
            try refuseStructure(character, what: "an option name")
            let startLine = line
            let key = try scalar(stoppingAt: ":", inFlow: false)
            guard current == ":" else { throw fail("'\(key.text)' is not followed by ':' (write option: value)") }
            advance()
            guard current == nil || current == " " || current == "\t" || current == "\n" || current == "\r" else {
                throw fail("'\(key.text):' must be followed by a space and the value")
            }
            skipSpace(newlines: false)
            guard let first = current, first != "\n" else { throw fail("'\(key.text)' has no value") }
            try refuseStructure(first, what: "the value of '\(key.text)'")
            let value = try scalar(stoppingAt: nil, inFlow: false)
            skipSpace(newlines: false)
            guard current == nil || current == "\n" else { throw fail("'\(key.text)' has more than one value on its line") }
            entries.append(ConfigurationEntry(key: key.text, text: value.text, isQuoted: value.isQuoted, line: startLine))
            if entries.count > ConfigurationDocument.maximumEntries {
                throw ConfigurationDocumentError.tooManyEntries(limit: ConfigurationDocument.maximumEntries)
            }
        }
    }

    mutating func end(_ entries: [ConfigurationEntry]) throws -> [ConfigurationEntry] {
        index += 3
        skipSpace(newlines: true)
        guard current == nil else { throw fail("text after the end-of-document marker '...'") }
        return entries
    }

    // MARK: Flow form: `{key: value, "key": "value"}`, JSON included.

    mutating func flowMapping() throws -> [ConfigurationEntry] {
        advance()  // {
        var entries: [ConfigurationEntry] = []
        skipSpace(newlines: true)
        if current == "}" {
            advance()
            return try flowEnd(entries)
        }
        while true {
            skipSpace(newlines: true)
            guard let character = current else { throw fail("the mapping is not closed with '}'") }
            try refuseStructure(character, what: "an option name")
            let startLine = line
            let key = try scalar(stoppingAt: ":", inFlow: true)
            skipSpace(newlines: true)
            guard current == ":" else { throw fail("'\(key.text)' is not followed by ':'") }
            advance()
            skipSpace(newlines: true)
            guard let first = current, first != "," && first != "}" else { throw fail("'\(key.text)' has no value") }
            try refuseStructure(first, what: "the value of '\(key.text)'")
            let value = try scalar(stoppingAt: nil, inFlow: true)
            entries.append(ConfigurationEntry(key: key.text, text: value.text, isQuoted: value.isQuoted, line: startLine))
            if entries.count > ConfigurationDocument.maximumEntries {
                throw ConfigurationDocumentError.tooManyEntries(limit: ConfigurationDocument.maximumEntries)
            }
            skipSpace(newlines: true)
            switch current {
            case ",": advance()
            case "}":
                advance()
                return try flowEnd(entries)
            default: throw fail("expected ',' or '}' after the value of '\(key.text)'")
            }
        }
    }

    mutating func flowEnd(_ entries: [ConfigurationEntry]) throws -> [ConfigurationEntry] {
        skipSpace(newlines: true)
        guard current == nil else { throw fail("text after the closing '}'") }
        return entries
    }

    // MARK: Scalars

    /// Refuses the marks that start something other than a single value, naming what it would have been.
    func refuseStructure(_ character: Unicode.Scalar, what: String) throws {
        let shapes: [Unicode.Scalar: String] = [
            "{": "a nested mapping", "[": "a list", "-": "a list item", "?": "a complex key", "&": "an anchor",
            "*": "an alias", "!": "a tag", "|": "a block scalar", ">": "a block scalar", "%": "a directive",
            "@": "a reserved character", "`": "a reserved character", "<": "a merge key"
        ]
        guard let shape = shapes[character] else { return }
        // A value may begin with '-' or '<' as text (a negative number, '-x'); a list item is '- ' at the start.
        if character == "-" || character == "<" {
            let next = index + 1 < characters.count ? characters[index + 1] : " "
            if character == "-" && !(next == " " || next == "\n" || next == "\t" || next == "\r") { return }
            if character == "<" && next != "<" { return }
        }
        throw fail("\(what) is \(shape) ('\(character)'); a configuration holds single values only")
    }

    /// A quoted or plain scalar on one line; a plain one ends at `stop`, a comment, the line's end, or (in flow) ',' '}'.
    mutating func scalar(stoppingAt stop: Unicode.Scalar?, inFlow: Bool) throws -> (text: String, isQuoted: Bool) {
        if current == "\"" { return (try doubleQuoted(), true) }
        if current == "'" { return (try singleQuoted(), true) }
        var text = ""
        while let character = current, character != "\n" {
            if let stop, character == stop { break }
            if inFlow && (character == "," || character == "}" || character == "{" || character == "[" || character == "]") { break }
            if character == "#" && (text.unicodeScalars.last == " " || text.unicodeScalars.last == "\t") { break }
            if character == ":" && stop == nil {
                let next = index + 1 < characters.count ? characters[index + 1] : " "
                if next == " " || next == "\t" || next == "\n" || next == "\r" || (inFlow && next == ",") {
                    throw fail("the value '\(text):' contains ': ', which YAML reads as a nested mapping; quote it")
                }
            }
            text.unicodeScalars.append(character)
            advance()
        }
        let trimmed = text.trimmingSpaces
        guard !trimmed.isEmpty else { throw fail("an empty name or value") }
        return (trimmed, false)
    }

    mutating func doubleQuoted() throws -> String {
        advance()
        var text = ""
        while let character = current {
            if character == "\n" { throw fail("a quoted value must end on its line") }
            advance()
            if character == "\"" { return text }
            if character == "\\" {
                guard let escaped = current else { break }
                advance()
                switch escaped {
                case "\"": text.append("\"")
                case "\\": text.append("\\")
                case "/": text.append("/")
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "r": text.append("\r")
                case "u":
                    var hex = ""
                    for _ in 0..<4 {
                        guard let digit = current, digit.properties.isASCIIHexDigit else { throw fail("a '\\u' escape needs four hex digits") }
                        hex.unicodeScalars.append(digit)
                        advance()
                    }
                    guard let scalar = UInt32(hex, radix: 16).flatMap(Unicode.Scalar.init), scalar != "\0" else {
                        throw fail("'\\u\(hex)' is not a character a value may hold")
                    }
                    text.unicodeScalars.append(scalar)
                default: throw fail("unknown escape '\\\(escaped)' in a quoted value")
                }
                continue
            }
            text.unicodeScalars.append(character)
        }
        throw fail("a quoted value is not closed")
    }

    mutating func singleQuoted() throws -> String {
        advance()
        var text = ""
        while let character = current {
            if character == "\n" { throw fail("a quoted value must end on its line") }
            advance()
            if character == "'" {
                if current == "'" {
                    text.append("'")
                    advance()
                    continue
                }
                return text
            }
            text.unicodeScalars.append(character)
        }
        throw fail("a quoted value is not closed")
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" || first == "\r" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" || last == "\r" { view = view.dropLast() }
        return String(view)
    }
}

extension ConfigurationEntry {
    /// What a YAML reader would make of the value: the caller accepts a value only where every reader agrees.
    public enum Reading: Sendable, Equatable {
        /// Plain `true` or `false`.
        case boolean(Bool)
        /// A plain decimal integer: optional '-', no leading zeros (`10`, `-3`, `0`).
        case decimalInteger
        /// A plain decimal number with a fraction or an exponent (`0.01`, `1e-3`).
        case decimalNumber
        /// A number some readers read differently (`010`, `0x10`, `0o10`, `1_0`, `1:30`, `+5`, `.inf`).
        case ambiguousNumber
        /// A word YAML 1.1 reads as a boolean (`yes`, `no`, `on`, `off`, `y`, `n`, `True`, ...).
        case booleanWord
        /// `~` or `null`.
        case null
        /// Text every reader reads as the same string (anything quoted is text).
        case text
    }

    /// How the value reads (see `Reading`).
    public var reading: Reading {
        if isQuoted { return .text }
        switch text {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "~", "null", "Null", "NULL": return .null
        default: break
        }
        let words: Set<String> = [
            "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "True", "TRUE", "False",
            "FALSE", "on", "On", "ON", "off", "Off", "OFF"
        ]
        if words.contains(text) { return .booleanWord }
        let scalars = Array(text.unicodeScalars)
        let unsigned = scalars.first == "-" ? Array(scalars.dropFirst()) : scalars
        if Self.isDecimalInteger(unsigned) { return .decimalInteger }
        if Self.isDecimalNumber(unsigned) { return .decimalNumber }
        let lowered = text.lowercased()
        if [".inf", "-.inf", "+.inf", ".nan"].contains(lowered) { return .ambiguousNumber }
        let body = (scalars.first == "-" || scalars.first == "+") ? Array(scalars.dropFirst()) : scalars
        let numberish = body.allSatisfy { "0123456789abcdefABCDEFxXoO_:.+-".unicodeScalars.contains($0) }
        if let first = body.first, numberish, ("0"..."9").contains(first) || (first == "." && body.count > 1 && ("0"..."9").contains(body[1])) {
            return .ambiguousNumber
        }
        return .text
    }

    private static func isDecimalInteger(_ digits: [Unicode.Scalar]) -> Bool {
        guard let first = digits.first, digits.allSatisfy({ ("0"..."9").contains($0) }) else { return false }
        return first != "0" || digits.count == 1
    }

    private static func isDecimalNumber(_ scalars: [Unicode.Scalar]) -> Bool {
        var index = 0
        func digits() -> Int {
            let start = index
            while index < scalars.count, ("0"..."9").contains(scalars[index]) { index += 1 }
            return index - start
        }
        let integerStart = index
        let integerDigits = digits()
        if integerDigits > 1 && scalars[integerStart] == "0" { return false }
        var fractionDigits = 0
        if index < scalars.count, scalars[index] == "." {
            index += 1
            fractionDigits = digits()
            if fractionDigits == 0 { return false }
        }
        guard integerDigits + fractionDigits > 0 else { return false }
        if index < scalars.count, scalars[index] == "e" || scalars[index] == "E" {
            index += 1
            if index < scalars.count, scalars[index] == "-" || scalars[index] == "+" { index += 1 }
            if digits() == 0 { return false }
        }
        return index == scalars.count
    }
}

extension ConfigurationDocument {
    /// `text` as a double-quoted value this reader (and any YAML or JSON reader) reads back to the same text.
    public static func quoted(_ text: String) -> String { StateJSON.quote(text) }
}
