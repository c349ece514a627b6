import SwiftTrainApp
import Testing
import Training

@Suite("--scheduler: Ignite's schedules and warm-up in front of any of them")
struct SchedulerSpecificationTests {
    @Test(
        "every form prints back as it parses",
        arguments: [
            "constant", "step:2:0.5", "multistep:2,5:0.1", "exponential:0.9", "cosine", "cosine-restarts:8", "cosine-restarts:8:2.0",
            "cyclic:0.001:10", "piecewise:0=0.1,10=0.01,20=0.001", "warmup:5", "warmup:5+cosine", "warmup:3+cyclic:0.01:6",
            "warmup:4+step:1:0.5"
        ])
    func roundTrip(text: String) throws {
        let parsed = try SchedulerSpecification(parsing: text)
        #expect(parsed.description == text)
        #expect(try SchedulerSpecification(parsing: parsed.description) == parsed)
    }

    @Test("the older forms keep their meaning: warmup-cosine:N is warm-up then cosine")
    func olderForms() throws {
        #expect(try SchedulerSpecification(parsing: "warmup-cosine:6") == .warmup(iterations: 6, then: .cosine))
        #expect(try SchedulerSpecification(parsing: "warmup:6") == .warmup(iterations: 6, then: .constant))
    }

    @Test("the rates are the library schedules' (Ignite's values), per epoch or per iteration")
    func rates() throws {
        let perEpoch = 4
        func values(_ text: String, _ count: Int) throws -> [Double] {
            let schedule = try SchedulerSpecification(parsing: text).schedule(base: 0.1, perEpoch: perEpoch, iterations: 40)
            return (0..<count).map(schedule)
        }
        // Per-epoch forms count epochs at the top level; inside a warm-up, iterations (4 per epoch).
        #expect(try values("step:2:0.5", 5) == [0.1, 0.1, 0.05, 0.05, 0.025])
        #expect(try values("multistep:1,3:0.1", 4).map { ($0 * 1e6).rounded() } == [100_000, 10_000, 10_000, 1_000])
        #expect(try values("exponential:0.5", 3) == [0.1, 0.05, 0.025])
        let warmupStep = try values("warmup:3+step:1:0.5", 10)
        #expect(warmupStep[0] == 0 && warmupStep[2] == 0.1 && warmupStep[2 + perEpoch] == 0.05)
        let expected = try LearningRateScheduler.warmup(
            events: 3, then: LearningRateScheduler.cyclical(.linear, start: 0.1, end: 0.01, cycleSize: 6))
        #expect(try values("warmup:3+cyclic:0.01:6", 20) == (0..<20).map(expected))
        let restarts = try LearningRateScheduler.cyclical(.cosine, start: 0.1, end: 0, cycleSize: 8, cycleMultiplier: 2)
        #expect(try values("cosine-restarts:8:2", 30) == (0..<30).map(restarts))
        #expect(try values("piecewise:0=0.1,10=0.0", 11).last == 0)
    }

    @Test(
        "malformed schedules are refused with the forms",
        arguments: [
            "step:0:0.5", "step:2:1.5", "multistep:5,2:0.1", "exponential:0", "cosine:3", "cosine-restarts:1", "cosine-restarts:8:0.5",
            "cyclic:-1:8", "piecewise:10=0.1,5=0.2", "piecewise:0=x", "warmup:1", "warmup:5+", "warmup:5+warmup:3", "cosine+step:1:0.5",
            "triangle", ""
        ])
    func refused(text: String) {
        #expect(throws: ConfigurationError.self) { try SchedulerSpecification(parsing: text) }
    }
}
