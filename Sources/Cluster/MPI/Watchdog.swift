import Foundation

/// Ends this process when a collective has been running past its deadline: a peer that stopped or hangs would
/// otherwise keep every rank waiting forever. The application's `report` hears why, then the rank exits non-zero;
/// mpirun then ends the whole job (the stopped peer included). Checked twice a second, so the collective itself runs
/// undisturbed.
final class Watchdog: @unchecked Sendable {
    // Sendable by its lock: the armed collective is written by the rank's thread and read by the watchdog's.
    static let shared = Watchdog()
    private let lock = NSLock()
    private var armed: (name: String, rank: Int, seconds: Double, deadline: Date)?
    private var started = false
    private var reporter: @Sendable (Int, String) -> Void = { _, _ in }
    /// Told the rank and the message before the process ends.
    var report: @Sendable (Int, String) -> Void {
        get { lock.withLock { reporter } }
        set { lock.withLock { reporter = newValue } }
    }

    /// Starts the watching thread (once).
    func start() {
        lock.lock()
        defer { lock.unlock() }
        guard !started else { return }
        started = true
        let thread = Thread { [self] in watch() }
        thread.name = "swift-train collective watchdog"
        thread.start()
    }

    /// The collective `name` of `rank` must end within `seconds`.
    func arm(name: String, rank: Int, seconds: Double) {
        lock.lock()
        armed = (name, rank, seconds, Date().addingTimeInterval(seconds))
        lock.unlock()
    }

    /// The collective ended.
    func disarm() {
        lock.lock()
        armed = nil
        lock.unlock()
    }

    private func watch() {
        while true {
            Thread.sleep(forTimeInterval: 0.5)
            lock.lock()
            let late = armed.flatMap { $0.deadline < Date() ? $0 : nil }
            lock.unlock()
            if let late {
                let seconds = late.seconds == late.seconds.rounded() ? String(Int(late.seconds)) : "\(late.seconds)"
                let message = "\(late.name) did not complete within \(seconds) s: another rank is stuck or gone; ending the job"
                report(late.rank, message)
                _exit(1)
            }
        }
    }
}
