import EngineCore
import Foundation

/// Exact JSON for state dicts: keys sorted, integers stay integers, doubles round-trip bit for bit
/// (shortest representation; non-finite values as {"__double__": "nan"}), tensors as
/// {"__tensor__": "path"} references to the safetensors part.
enum StateJSON {
    // MARK: - Writing

    static func write(_ value: StateValue, tensorPath: String, tensors: inout [(name: String, shape: [Int], values: [Float])])
        -> String
    {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .double(let number):
            if number.isFinite { return "\(number)" }
            return "{\"__double__\":\"\(number.isNaN ? "nan" : number > 0 ? "inf" : "-inf")\"}"
        case .string(let text): return quote(text)
        case .array(let items):
            let parts = items.enumerated().map { write($1, tensorPath: "\(tensorPath).\($0)", tensors: &tensors) }
            return "[" + parts.joined(separator: ",") + "]"
        case .dictionary(let dict):
            let parts = dict.keys.sorted().map { key in
                quote(key) + ":"
                    + write(
                        dict[key]!, tensorPath: tensorPath.isEmpty ? key : "\(tensorPath).\(key)",
                        tensors: &tensors)
            }
            return "{" + parts.joined(separator: ",") + "}"
        case .tensor(let shape, let values):
            var name = tensorPath
            while tensors.contains(where: { $0.name == name }) { name += "_" }
            tensors.append((name, shape, values))
            return "{\"__tensor__\":\(quote(name))}"
        }
    }

    /// `text` as a JSON string literal (also a YAML double-quoted scalar).
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 { result += String(format: "\\u%04x", scalar.value) } else { result.unicodeScalars.append(scalar) }
            }
        }
        return result + "\""
    }

    // MARK: - Reading

    struct ParseError: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Parses JSON into a StateValue tree (objects as dictionaries); `tensor` resolves tensor references.
    static func parse(_ text: String, tensor: @escaping (String) throws -> StateValue) throws -> StateValue {
        var parser = Parser(bytes: Array(text.utf8), resolve: tensor)
        let value = try parser.value()
        parser.skipSpace()
        guard parser.position == parser.bytes.count else { throw ParseError(offset: parser.position, reason: "trailing data") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        let resolve: (String) throws -> StateValue
        var position = 0
        /// Arrays and objects open around the current position; bounded so a hostile file cannot exhaust the stack.
        var depth = 0
        static let maximumDepth = 128

        init(bytes: [UInt8], resolve: @escaping (String) throws -> StateValue) {
            self.bytes = bytes
            self.resolve = resolve
        }

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[position]) { position += 1 }
        }

        mutating func expect(_ byte: UInt8) throws {
            skipSpace()
            guard position < bytes.count, bytes[position] == byte else {
                throw ParseError(offset: position, reason: "expected '\(Character(UnicodeScalar(byte)))'")
            }
            position += 1
        }

        mutating func value() throws -> StateValue {
            skipSpace()
            guard position < bytes.count else { throw ParseError(offset: position, reason: "unexpected end") }
            let opensContainer = bytes[position] == UInt8(ascii: "{") || bytes[position] == UInt8(ascii: "[")
            if opensContainer {
                guard depth < Self.maximumDepth else {
                    throw ParseError(offset: position, reason: "nested deeper than \(Self.maximumDepth) levels")
                }
                depth += 1
            }
            defer { if opensContainer { depth -= 1 } }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["):
                position += 1
                var items: [StateValue] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(items)
                }
                while true {
                    items.append(try value())
                    skipSpace()
                    guard position < bytes.count else { throw ParseError(offset: position, reason: "unterminated array") }
                    if bytes[position] == UInt8(ascii: ",") {
                        position += 1
                        continue
                    }
                    try expect(UInt8(ascii: "]"))
                    return .array(items)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            default: return try number()
            }
        }

        mutating func literal(_ word: String) throws {
            let expected = Array(word.utf8)
            guard position + expected.count <= bytes.count, Array(bytes[position..<(position + expected.count)]) == expected else {
                throw ParseError(offset: position, reason: "expected \(word)")
            }
            position += expected.count
        }

        mutating func object() throws -> StateValue {
            try expect(UInt8(ascii: "{"))
            var dict: StateDict = [:]
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .dictionary(dict)
            }
            while true {
                skipSpace()
                let key = try string()
                try expect(UInt8(ascii: ":"))
                dict[key] = try value()
                skipSpace()
                guard position < bytes.count else { throw ParseError(offset: position, reason: "unterminated object") }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                try expect(UInt8(ascii: "}"))
                break
            }
            if dict.count == 1, case .string(let path)? = dict["__tensor__"] { return try resolve(path) }
            if dict.count == 1, case .string(let text)? = dict["__double__"] {
                switch text {
                case "nan": return .double(.nan)
                case "inf": return .double(.infinity)
                case "-inf": return .double(-.infinity)
                default: throw ParseError(offset: position, reason: "bad special double \(text)")
                }
            }
            return .dictionary(dict)
        }

        mutating func string() throws -> String {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw ParseError(offset: position, reason: "expected a string")
            }
            position += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() {
                if !raw.isEmpty {
                    scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                    raw = []
                }
            }
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                if byte == UInt8(ascii: "\"") {
                    flush()
                    return String(scalars)
                }
                if byte != UInt8(ascii: "\\") {
                    raw.append(byte)
                    continue
                }
                flush()
                guard position < bytes.count else { break }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{c}")
                case UInt8(ascii: "u"):
                    guard position + 4 <= bytes.count,
                        let code = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16),
                        let scalar = UnicodeScalar(code)
                    else { throw ParseError(offset: position, reason: "bad \\u escape") }
                    scalars.append(scalar)
                    position += 4
                default: scalars.append(UnicodeScalar(escape))
                }
            }
            throw ParseError(offset: position, reason: "unterminated string")
        }

        mutating func number() throws -> StateValue {
            let start = position
            while position < bytes.count, "+-0123456789.eE".utf8.contains(bytes[position]) { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let integer = Int(text) { return .int(integer) }
            guard let double = Double(text) else { throw ParseError(offset: start, reason: "bad number '\(text)'") }
            return .double(double)
        }
    }
}

extension StateValue {
    /// Parses one JSON value as the library writes it (the JSON-lines logger's lines, a checkpoint's state):
    /// integers stay integers, doubles round-trip exactly, tensor references become `.null`.
    /// - Throws: an error naming the position of the first malformed character.
    public init(json text: String) throws {
        self = try StateJSON.parse(text, tensor: { _ in .null })
    }
}
