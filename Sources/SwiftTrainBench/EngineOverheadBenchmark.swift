import EngineCore

/// B1: an engine whose process function returns its batch, over 1,000,000 integer batches, with three
/// handlers on iteration completed: every 100, a custom filter (true at 1, 2, 5, 10, 50, 100) and an
/// unfiltered one. Reports the median nanoseconds per iteration of several runs, beside a plain Swift loop that
/// calls the same process function, filter and three handlers (the floor an engine can reach) in the same run.
func runEngineOverheadBenchmark(iterations: Int = 1_000_000, repeats: Int = 7) throws {
    var everyHundred = 0
    var special = 0
    var unfiltered = 0
    // The same closures serve the engine and the plain loop; passed through an opaque function, so that the plain
    // loop calls them as the engine does instead of inlining them.
    let process: Engine<Int, Int>.ProcessFunction = opaque { _, batch in batch }
    let filter: @Sendable (Int) -> Bool = { count in
        switch count {
        case 1, 2, 5, 10, 50, 100: true
        default: false
        }
    }
    let admits = opaque(filter)
    let countHundred: Engine<Int, Int>.Handler = opaque { _ in everyHundred += 1 }
    let countSpecial: Engine<Int, Int>.Handler = opaque { _ in special += 1 }
    let countAll: Engine<Int, Int>.Handler = opaque { _ in unfiltered += 1 }
    let engine = Engine<Int, Int>(process)
    try engine.on(.iterationCompleted(every: 100), countHundred)
    try engine.on(.iterationCompleted(filter: { _, count in admits(count) }), countSpecial)
    try engine.on(.iterationCompleted, countAll)
    var timings: [Double] = []
    var plainTimings: [Double] = []
    var sink = 0
    for _ in 0..<repeats {
        let start = monotonicSeconds()
        try engine.run(0..<iterations, maxEpochs: 1)
        timings.append((monotonicSeconds() - start) / Double(iterations) * 1e9)
        // The plain loop: the same batches, process function, filters and handlers, with no engine around them.
        let plainStart = monotonicSeconds()
        var iteration = 0
        for batch in 0..<iterations {
            iteration += 1
            sink &+= try process(engine, batch)
            if iteration % 100 == 0 { try countHundred(engine) }
            if admits(iteration) { try countSpecial(engine) }
            try countAll(engine)
        }
        plainTimings.append((monotonicSeconds() - plainStart) / Double(iterations) * 1e9)
    }
    guard everyHundred == 2 * repeats * iterations / 100, special == 2 * repeats * 6, unfiltered == 2 * repeats * iterations,
        sink == repeats * (iterations * (iterations - 1) / 2)
    else {
        throw BenchmarkError("engine benchmark handlers fired the wrong number of times")
    }
    let ours = median(timings)
    let plain = median(plainTimings)
    report(
        "engine_overhead",
        [
            "ns_per_iteration": format(ours, 1), "plain_loop_ns_per_iteration": format(plain, 1),
            "ratio_to_plain_loop": format(ours / plain, 2), "target_ratio": "2.0", "iterations": "\(iterations)",
            "handlers": "3", "repeats": "\(repeats)", "reference_ns": "9600", "target_ns": "50"
        ])
}

/// `value`, through a call the optimiser cannot see into.
@inline(never)
func opaque<T>(_ value: T) -> T { value }
