/// Stops with `message` when `condition` is false, in release builds too (a `precondition`'s message is dropped
/// there): a differentiable operation cannot throw, so a shape that cannot work must at least say which.
@inline(__always)
func ensure(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
