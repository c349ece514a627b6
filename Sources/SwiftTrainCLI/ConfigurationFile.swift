import ArgumentParser
import Foundation
import Yams

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
    static let otherCommands: Set<String> = ["evaluate", "inspect", "report", "predict", "generate"]

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
        let leading = rest.first == "train" ? ["train"] : []
        return leading + (try flags(from: path)) + rest.dropFirst(leading.count)
    }

    /// The flags a configuration file stands for.
    static func flags(from path: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(path): cannot read the configuration file")
        }
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch {
            throw ValidationError("\(path): not valid YAML or JSON: \(error)")
        }
        guard let mapping = loaded as? [String: Any] else {
            throw ValidationError("\(path): the configuration must be a mapping of option names to values")
        }
        var flags: [String] = []
        for key in mapping.keys.sorted() {
            let value = mapping[key]!
            if TrainCommand.invertibleFlags.contains(key) || TrainCommand.plainFlags.contains(key) {
                guard let on = value as? Bool else { throw ValidationError("\(path): '\(key)' must be true or false") }
                if on { flags.append("--\(key)") } else if TrainCommand.invertibleFlags.contains(key) { flags.append("--no-\(key)") }
                continue
            }
            guard TrainCommand.optionNames.contains(key) else {
                throw ValidationError("\(path): unknown key '\(key)' (known: \(TrainCommand.optionNames.sorted().joined(separator: ", ")))")
            }
            switch value {
            case let text as String: flags += ["--\(key)", text]
            case let number as Int: flags += ["--\(key)", String(number)]
            case let number as Double: flags += ["--\(key)", "\(number)"]
            case let flag as Bool: flags += ["--\(key)", String(flag)]
            default: throw ValidationError("\(path): '\(key)' must be a single value")
            }
        }
        return flags
    }
}

extension TrainCommand {
    /// Options that take a value, by their flag names without dashes (from the command's own properties).
    static var optionNames: Set<String> {
        let names = Mirror(reflecting: TrainCommand()).children.compactMap { $0.label?.dropFirst() }.map { label in
            label.reduce(into: "") { result, character in
                if character.isUppercase { result += "-" + character.lowercased() } else { result.append(character) }
            }
        }
        return Set(names).subtracting(invertibleFlags).subtracting(plainFlags).subtracting(["stop-after", "inject-fault", "print-config", "config"])
    }

    /// Flags with a `--no-` form.
    static let invertibleFlags: Set<String> = ["progress", "normalize", "overlap"]
    /// Flags without one.
    static let plainFlags: Set<String> = ["deterministic"]
}
