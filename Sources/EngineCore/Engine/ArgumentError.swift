/// An argument a caller gave that the API cannot take (a patience of 0, a batch size of 0, a class count of 0):
/// thrown, naming the argument, what it was and what it must be, so that a value read from a user's input can never
/// trap the process.
public struct ArgumentError: Error, Equatable, CustomStringConvertible {
    /// The function and argument, as `EarlyStopping(patience:)`.
    public let argument: String
    /// The value given.
    public let value: String
    /// What it must be.
    public let expected: String

    /// An error for `argument` given `value`, which must be `expected`.
    public init(_ argument: String, _ value: Any, expected: String) {
        self.argument = argument
        self.value = "\(value)"
        self.expected = expected
    }

    public var description: String { "\(argument) is \(value): it must be \(expected)" }

    /// Throws unless `condition` holds.
    @inlinable
    public static func require(_ condition: Bool, _ argument: String, _ value: Any, _ expected: String) throws {
        if !condition { throw ArgumentError(argument, value, expected: expected) }
    }
}
