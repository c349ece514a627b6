import EngineCore

/// B1: an engine whose process function returns its batch, over 1,000,000 integer batches, with three
/// handlers on iteration completed: every 100, a custom filter (true at 1, 2, 5, 10, 50, 100) and an
/// unfiltered one. Reports the median nanoseconds per iteration of several runs.
func runEngineOverheadBenchmark(iterations: Int = 1_000_000, repeats: Int = 7) throws {
    var everyHundred = 0, special = 0, unfiltered = 0
    let engine = Engine<Int, Int> { _, batch in batch }
    try engine.on(.iterationCompleted(every: 100)) { _ in everyHundred += 1 }
    try engine.on(.iterationCompleted(filter: { _, count in
        switch count {
        case 1, 2, 5, 10, 50, 100: true
        default: false
        }
    })) { _ in special += 1 }
    try engine.on(.iterationCompleted) { _ in unfiltered += 1 }
    var timings: [Double] = []
    for _ in 0..<repeats {
        let start = monotonicSeconds()
        try engine.run(0..<iterations, maxEpochs: 1)
        timings.append((monotonicSeconds() - start) / Double(iterations) * 1e9)
    }
    guard everyHundred == repeats * iterations / 100, special == repeats * 6, unfiltered == repeats * iterations else {
        throw BenchmarkError("engine benchmark handlers fired the wrong number of times")
    }
    report("engine_overhead", ["ns_per_iteration": format(median(timings), 1), "iterations": "\(iterations)",
                               "handlers": "3", "repeats": "\(repeats)", "reference_ns": "9600", "target_ns": "50"])
}
