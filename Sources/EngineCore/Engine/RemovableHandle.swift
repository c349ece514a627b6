/// Returned when a handler is attached; removes it again.
///
/// Removing twice, or after the handler was removed by other means, does nothing.
public final class RemovableHandle {
    private var removal: (() -> Void)?
    /// The engine the handler is attached to.
    let owner: ObjectIdentifier

    init(owner: ObjectIdentifier, removal: @escaping () -> Void) {
        self.owner = owner
        self.removal = removal
    }

    /// Detaches the handler from its engine (a no-op when already detached).
    public func remove() {
        removal?()
        removal = nil
    }

    /// Whether the handler is still attached through this handle.
    public var isAttached: Bool { removal != nil }
}
