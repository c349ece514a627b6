import ArgumentParser
import Foundation
import SwiftTrainApp
import Training

/// `--config FILE`: a YAML (or JSON) mapping from option names to values, turned into flags placed before the
/// command line's own, so that flags given on the command line override the file.
///
/// ```yaml
/// data: csv:data/houses.csv
/// epochs: 30
/// lr: 0.01
/// progress: false
/// ```
enum ConfigurationFile {
    /// Subcommands the file does not apply to (it configures training).
    /// (`elastic` expands the file in its own training options, after `--`.)
    static let otherCommands: Set<String> = ["evaluate", "inspect", "report", "predict", "generate", "elastic"]

    /// The arguments with `--config FILE` replaced by the file's options.
    /// - Throws: `ValidationError` naming the file and the key that is unknown or has a value of the wrong kind.
    static func expand(_ arguments: [String]) throws -> [String] {
        if let first = arguments.first, otherCommands.contains(first) { return arguments }
        var rest: [String] = []
        var path: String?
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--config" {
                guard index + 1 < arguments.count else { throw ValidationError("--config needs a file") }
                path = arguments[index + 1]
                index += 2
                continue
            }
            if argument.hasPrefix("--config=") {
                path = String(argument.dropFirst("--config=".count))
            } else {
                rest.append(argument)
            }
            index += 1
        }
        guard let path else { return arguments }
        let leading = rest.first.map { ["train", "lr-find"].contains($0) ? [$0] : [] } ?? []
        let expanded = leading + (try flags(from: path)) + rest.dropFirst(leading.count)
        // The configuration is an input too: a log written over it would destroy it.
        for (index, argument) in expanded.enumerated() {
            let log =
                argument == "--log" && index + 1 < expanded.count
                ? expanded[index + 1]
                : argument.hasPrefix("--log=") ? String(argument.dropFirst(6)) : nil
            if let log {
                do { try OutputProtection.refuse(output: log, option: "--log", overwriting: [("--config", path)]) } catch {
                    throw ValidationError("\(error)")
                }
            }
        }
        return expanded
    }

    /// The flags a configuration file stands for.
    static func flags(from path: String) throws -> [String] {
        let entries: [ConfigurationEntry]
        do {
            entries = try ConfigurationDocument.entries(in: try readBounded(path))
        } catch let error as ConfigurationDocumentError {
            throw ValidationError("\(path): \(error)")
        }
        let kinds = TrainCommand.optionKinds
        var flags: [String] = []
        for entry in entries {
            let key = entry.key
            func refuse(_ reason: String) -> ValidationError {
                ValidationError("\(path): line \(entry.line): '\(key): \(entry.text)' \(reason)")
            }
            guard let kind = kinds[key] else {
                throw ValidationError("\(path): line \(entry.line): unknown key '\(key)' (known: \(kinds.keys.sorted().joined(separator: ", ")))")
            }
            let reading = entry.reading
            switch kind {
            case .flag(let invertible):
                guard case .boolean(let on) = reading else { throw refuse("must be true or false") }
                if on { flags.append("--\(key)") } else if invertible { flags.append("--no-\(key)") }
                continue
            case .integer:
                guard reading == .decimalInteger else { throw refuse(numberProblem(entry, "integer")) }
                guard Int64(entry.text) != nil || (key == "seed" && UInt64(entry.text) != nil) else {
                    throw refuse("is out of range for a 64-bit integer")
                }
            case .number:
                guard reading == .decimalInteger || reading == .decimalNumber else { throw refuse(numberProblem(entry, "number")) }
                guard Double(entry.text)?.isFinite == true else { throw refuse("is out of range for a number") }
            case .text:
                switch reading {
                case .text: break
                case .boolean, .booleanWord:
                    throw refuse("is read by YAML readers as a boolean; write the text in quotes: \(key): \"\(entry.text)\"")
                case .null:
                    throw refuse("is read by YAML readers as null; leave the option out for its default, or quote the text")
                case .decimalInteger, .decimalNumber, .ambiguousNumber:
                    throw refuse("is read by YAML readers as a number; write the text in quotes: \(key): \"\(entry.text)\"")
                }
            }
            // `--key=value`: a value that begins with '-' stays the option's value.
            flags.append("--\(key)=\(entry.text)")
        }
        return flags
    }

    /// Why a value is not the plain decimal number a numeric option takes.
    private static func numberProblem(_ entry: ConfigurationEntry, _ kind: String) -> String {
        if entry.isQuoted { return "is quoted text where a number is expected; write the \(kind) without quotes" }
        if entry.reading == .ambiguousNumber {
            return "is read differently by YAML readers (leading zeros, 0x, 0o, '_', ':', '+' or .inf); write a plain decimal \(kind)"
        }
        return "must be a plain decimal \(kind)"
    }

    /// The file's bytes, refusing a file larger than a configuration can be before reading it.
    private static func readBounded(_ path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ValidationError("\(path): cannot read the configuration file")
        }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: ConfigurationDocument.maximumBytes + 1) else { return [] }
        return Array(data)
    }

    /// The configuration as a file that `--config` reads back to the same options: every option set, in the
    /// configuration's order (those a file may not set, such as the hidden test options, left out).
    static func printed(_ configuration: TrainingConfiguration, simulatedRanks: Int?) -> String {
        var lines: [String] = []
        let options = configuration.options + (simulatedRanks.map { [("simulate-ranks", String($0))] } ?? [])
        for (key, text) in options {
            guard let kind = TrainCommand.optionKinds[key] else { continue }
            // --keep only means something with --checkpoint-dir (and is refused without it).
            if key == "keep", configuration.checkpointDirectory == nil { continue }
            switch kind {
            case .flag, .integer, .number: lines.append("\(key): \(text)")
            case .text: lines.append("\(key): \(ConfigurationDocument.quoted(text))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension TrainCommand {
    /// What a configuration key's value must be.
    enum OptionKind: Equatable {
        case flag(invertible: Bool)
        case integer
        case number
        case text
    }

    /// Every option a configuration file may set, by flag name, with the kind of value it takes (from the command's
    /// own properties, so a new option is configurable without a list to update).
    static let optionKinds: [String: OptionKind] = {
        var kinds: [String: OptionKind] = [:]
        for child in Mirror(reflecting: TrainCommand()).children {
            guard let label = child.label, let name = flagName(label) else { continue }
            let type = String(describing: Swift.type(of: child.value))
            if type.hasPrefix("Flag<") {
                kinds[name] = .flag(invertible: invertibleFlags.contains(name))
            } else if type.contains("<Int>") || type.contains("<Optional<Int>>") || type.contains("UInt64") {
                kinds[name] = .integer
            } else if type.contains("Double") {
                kinds[name] = .number
            } else {
                kinds[name] = .text
            }
        }
        return kinds
    }()

    /// `--batch-size` for the property `_batchSize`; nil for options a file does not set.
    static func flagName(_ label: String) -> String? {
        guard let name = optionName(label) else { return nil }
        return ["stop-after", "inject-fault", "print-config", "config"].contains(name) ? nil : name
    }

    /// The option name of a property wrapper's label: `batch-size` for `_batchSize`.
    static func optionName(_ label: String) -> String? {
        guard label.hasPrefix("_") else { return nil }
        return label.dropFirst().reduce(into: "") { result, character in
            if character.isUppercase { result += "-" + character.lowercased() } else { result.append(character) }
        }
    }

    /// The value an option or flag wrapper holds after parsing, as command-line text; nil when unset.
    static func parsedValue(of wrapper: Any) -> String? {
        var value: Any = wrapper
        // Option<Value> and Flag<Value> keep the parsed value in an enum payload; unwrap to the innermost value.
        for _ in 0..<4 {
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional {
                guard let some = mirror.children.first?.value else { return nil }
                value = some
                continue
            }
            if let child = mirror.children.first, mirror.displayStyle == .struct || mirror.displayStyle == .enum {
                if value is any RawRepresentable || value is any OptionText || value is String || value is Int || value is Double
                    || value is UInt64 || value is Bool
                {
                    break
                }
                value = child.value
                continue
            }
            break
        }
        switch value {
        case let option as any OptionText: return option.description
        case let raw as any RawRepresentable: return "\(raw.rawValue)"
        case let text as String: return text
        case let flag as Bool: return flag ? "true" : "false"
        case let number as Int: return String(number)
        case let number as UInt64: return String(number)
        case let number as Double: return "\(number)"
        default: return nil
        }
    }

    /// Flags with a `--no-` form.
    static let invertibleFlags: Set<String> = ["progress", "normalize", "overlap"]
}
