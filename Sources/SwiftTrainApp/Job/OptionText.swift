import Foundation

/// A configuration value written as the text its command-line option takes (`mlp:128,128`, `csv:PATH`,
/// `warmup:100+cosine`): how it is coded in flags, configuration files, checkpoints and `--print-config` alike.
public protocol OptionText: Codable, CustomStringConvertible {
    /// Parses the option's text.
    /// - Throws: `ConfigurationError` naming the option and what it expects.
    init(parsing text: String) throws
}

extension OptionText {
    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Codes a `Codable` configuration as option texts by key (`["epochs": "10", "lr": "0.05"]`): an option left at
/// nil is absent, a list is comma-separated. The one representation of options that flags, configuration files,
/// checkpoints and the ranks' agreement share.
enum OptionTextCoding {
    /// The value's options as (key, text), in the order its `encode(to:)` writes them.
    static func encode(_ value: some Encodable) throws -> [(key: String, text: String)] {
        let encoder = TextEncoder()
        try value.encode(to: encoder)
        return encoder.entries
    }

    /// A value from option texts by key; keys absent take `defaults`' texts. Unknown keys are refused.
    static func decode<Value: Codable>(_ type: Value.Type, from texts: [String: String], defaults: Value) throws -> Value {
        var merged = Dictionary(try encode(defaults).map { ($0.key, $0.text) }, uniquingKeysWith: { _, last in last })
        for (key, text) in texts { merged[key] = text }
        return try Value(from: TextDecoder(texts: merged))
    }
}

private final class TextEncoder: Encoder {
    var entries: [(key: String, text: String)] = []
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedTexts<Key>(encoder: self))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { preconditionFailure("a configuration is keyed") }
    func singleValueContainer() -> any SingleValueEncodingContainer { preconditionFailure("a configuration is keyed") }

    /// The text of one option's value.
    static func text(of value: some Encodable) throws -> String {
        switch value {
        case let text as String: return text
        case let number as Double: return "\(number)"
        case let number as Int: return String(number)
        case let number as UInt64: return String(number)
        case let flag as Bool: return flag ? "true" : "false"
        case let list as [String]: return list.joined(separator: ",")
        default:
            let single = SingleText()
            try value.encode(to: single)
            return single.text
        }
    }

    struct KeyedTexts<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: TextEncoder
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws {}
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            encoder.entries.append((key.stringValue, try TextEncoder.text(of: value)))
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<
            NestedKey
        > {
            preconditionFailure("options are flat")
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { preconditionFailure("options are flat") }
        mutating func superEncoder() -> any Encoder { encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder }
    }
}

/// Takes the one string an `OptionText` value encodes itself as.
private final class SingleText: Encoder, SingleValueEncodingContainer {
    var text = ""
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { preconditionFailure("an option is one text") }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { preconditionFailure("an option is one text") }
    func singleValueContainer() -> any SingleValueEncodingContainer { self }
    func encodeNil() throws {}
    func encode<T: Encodable>(_ value: T) throws { text = try TextEncoder.text(of: value) }
}

private struct TextDecoder: Decoder {
    let texts: [String: String]
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let known = Set(texts.keys)
        for key in known where Key(stringValue: key) == nil {
            throw ConfigurationError.invalid(option: "--\(key)", value: texts[key] ?? "", expected: "an option swift-train --help lists")
        }
        return KeyedDecodingContainer(KeyedTexts<Key>(texts: texts))
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { preconditionFailure("a configuration is keyed") }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { preconditionFailure("a configuration is keyed") }

    struct KeyedTexts<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let texts: [String: String]
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { texts.keys.compactMap(Key.init(stringValue:)) }
        func contains(_ key: Key) -> Bool { texts[key.stringValue] != nil }
        func decodeNil(forKey key: Key) throws -> Bool { texts[key.stringValue] == nil }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            guard let text = texts[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: [], debugDescription: "option --\(key.stringValue) has no value"))
            }
            func number<N>(_ value: N?, _ kind: String) throws -> N {
                guard let value else { throw ConfigurationError.invalid(option: "--\(key.stringValue)", value: text, expected: kind) }
                return value
            }
            switch type {
            case is String.Type: return text as! T
            case is Int.Type: return try number(Int(text), "an integer") as! T
            case is UInt64.Type: return try number(UInt64(text), "a non-negative integer") as! T
            case is Double.Type: return try number(Double(text).flatMap { $0.isFinite ? $0 : nil }, "a number") as! T
            case is Bool.Type: return try number(["true": true, "false": false][text], "true or false") as! T
            case is [String].Type:
                return text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } as! T
            default:
                do { return try T(from: SingleTextReader(text: text)) } catch is DecodingError {
                    throw ConfigurationError.invalid(
                        option: "--\(key.stringValue)", value: text, expected: "one of the values swift-train --help lists")
                }
            }
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            preconditionFailure("options are flat")
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { preconditionFailure("options are flat") }
        func superDecoder() throws -> any Decoder { TextDecoder(texts: texts) }
        func superDecoder(forKey key: Key) throws -> any Decoder { TextDecoder(texts: texts) }
    }
}

/// Hands an `OptionText` value its option's text.
private struct SingleTextReader: Decoder, SingleValueDecodingContainer {
    let text: String
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> { preconditionFailure("an option is one text") }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { preconditionFailure("an option is one text") }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }
    func decodeNil() -> Bool { false }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard type == String.self else { return try T(from: self) }
        return text as! T
    }
}
