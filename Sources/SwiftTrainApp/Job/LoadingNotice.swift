import Foundation

/// Says on standard error that work is still going when it takes longer than a second (loading or generating
/// data), every two seconds until it ends; silent for quick work and on ranks other than 0.
final class LoadingNotice: @unchecked Sendable {
    // Sendable by its lock: `finished` is read by the timer's queue and written by the caller.
    private let lock = NSLock()
    private var finished = false
    private let start = Date()
    private let what: String
    private let isLeader: Bool

    /// Starts watching `what` ("loading the data") when `isLeader`.
    init(_ what: String, isLeader: Bool) {
        self.what = what
        self.isLeader = isLeader
        if isLeader { schedule(after: 1) }
    }

    private func schedule(after seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            lock.lock()
            let done = finished
            lock.unlock()
            guard !done else { return }
            let elapsed = Int(Date().timeIntervalSince(start))
            FileHandle.standardError.write(Data("swift-train: \(what)... \(elapsed) s\n".utf8))
            schedule(after: 2)
        }
    }

    /// Stops the notices; says how long it took when it was long enough to be noticed.
    func finish() {
        lock.lock()
        finished = true
        lock.unlock()
        let elapsed = Date().timeIntervalSince(start)
        if isLeader && elapsed >= 1 {
            FileHandle.standardError.write(Data("swift-train: \(what): done in \(String(format: "%.1f", elapsed)) s\n".utf8))
        }
    }
}
