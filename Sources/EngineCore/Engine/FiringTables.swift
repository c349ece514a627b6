/// Unretained views of an engine's handler entries, one per event slot, which the loop fires without retaining or
/// releasing anything (B1). The tables own their entries; a table replaced while a handler of it runs is kept until
/// the outermost firing returns, so a handler that adds or removes handlers never frees one still being fired.
@usableFromInline final class FiringTables<Entry: AnyObject> {
    /// The entries of slot `i`, in the order attached.
    @exclusivity(unchecked) @usableFromInline var tables: UnsafeMutablePointer<UnsafeMutableBufferPointer<Unmanaged<Entry>>>
    /// How many firings are under way (handlers firing events nest).
    @exclusivity(unchecked) @usableFromInline var depth = 0
    /// Whether replaced tables wait for the firings under way to return.
    @exclusivity(unchecked) @usableFromInline var hasRetired = false
    private var slotCount = 0
    private var owners: [[Entry]] = []
    private var retired: [(owners: [[Entry]], tables: UnsafeMutablePointer<UnsafeMutableBufferPointer<Unmanaged<Entry>>>, count: Int)] = []

    @usableFromInline init() {
        tables = .allocate(capacity: 1)
    }

    deinit {
        free(tables, count: slotCount)
        for old in retired { free(old.tables, count: old.count) }
    }

    /// Replaces every table with `entries`' (slot by slot).
    @usableFromInline func update(from entries: [[Entry]]) {
        let fresh = UnsafeMutablePointer<UnsafeMutableBufferPointer<Unmanaged<Entry>>>.allocate(capacity: Swift.max(1, entries.count))
        for (slot, list) in entries.enumerated() {
            let buffer = UnsafeMutableBufferPointer<Unmanaged<Entry>>.allocate(capacity: Swift.max(1, list.count))
            for (index, entry) in list.enumerated() { buffer[index] = Unmanaged.passUnretained(entry) }
            (fresh + slot).initialize(to: UnsafeMutableBufferPointer(rebasing: buffer[0..<list.count]))
        }
        if depth > 0 {
            retired.append((owners, tables, slotCount))
            hasRetired = true
        } else {
            free(tables, count: slotCount)
        }
        tables = fresh
        slotCount = entries.count
        owners = entries
    }

    /// Frees the tables replaced during the firings that just returned.
    @usableFromInline func releaseRetired() {
        for old in retired { free(old.tables, count: old.count) }
        retired = []
        hasRetired = false
    }

    private func free(_ tables: UnsafeMutablePointer<UnsafeMutableBufferPointer<Unmanaged<Entry>>>, count: Int) {
        for slot in 0..<count { tables[slot].baseAddress?.deallocate() }
        tables.deallocate()
    }
}
