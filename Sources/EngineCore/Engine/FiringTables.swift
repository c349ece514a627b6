/// A handler entry as the loop fires it: unretained, with its filter's fast path beside it (no load through the entry to
/// decide whether it runs).
@usableFromInline struct FiringRow<Entry: AnyObject> {
    @usableFromInline let entry: Unmanaged<Entry>
    /// 1 for no filter, n for `every(n)`, 0 for the others.
    @usableFromInline let every: Int

    @usableFromInline init(entry: Unmanaged<Entry>, every: Int) {
        self.entry = entry
        self.every = every
    }
}

/// Unretained views of an engine's handler entries, one per event slot, which the loop fires without retaining or
/// releasing anything (B1). The tables own their entries; a table replaced while a handler of it runs is kept until
/// the outermost firing returns, so a handler that adds or removes handlers never frees one still being fired.
@usableFromInline final class FiringTables<Entry: AnyObject> {
    /// The entries of slot `i`, in the order attached.
    @exclusivity(unchecked) @usableFromInline var tables: UnsafeMutablePointer<UnsafeMutableBufferPointer<FiringRow<Entry>>>
    /// How many firings are under way (handlers firing events nest).
    @exclusivity(unchecked) @usableFromInline var depth = 0
    /// Whether replaced tables wait for the firings under way to return.
    @exclusivity(unchecked) @usableFromInline var hasRetired = false
    private var slotCount = 0
    private var owners: [[Entry]] = []
    private var retired: [(owners: [[Entry]], tables: UnsafeMutablePointer<UnsafeMutableBufferPointer<FiringRow<Entry>>>, count: Int)] = []

    @usableFromInline init() {
        tables = .allocate(capacity: 1)
    }

    deinit {
        free(tables, count: slotCount)
        for old in retired { free(old.tables, count: old.count) }
    }

    /// Replaces every table with `entries`' (slot by slot), each with its `every` (1: none, n > 1: every n, 0: other).
    @usableFromInline func update(from entries: [[Entry]], every: (Entry) -> Int) {
        let fresh = UnsafeMutablePointer<UnsafeMutableBufferPointer<FiringRow<Entry>>>.allocate(capacity: Swift.max(1, entries.count))
        for (slot, list) in entries.enumerated() {
            let buffer = UnsafeMutableBufferPointer<FiringRow<Entry>>.allocate(capacity: Swift.max(1, list.count))
            for (index, entry) in list.enumerated() { buffer[index] = FiringRow(entry: Unmanaged.passUnretained(entry), every: every(entry)) }
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

    private func free(_ tables: UnsafeMutablePointer<UnsafeMutableBufferPointer<FiringRow<Entry>>>, count: Int) {
        for slot in 0..<count { tables[slot].baseAddress?.deallocate() }
        tables.deallocate()
    }
}
