import EngineCore
import SwiftTrainApp
import Testing

@Suite("The training report")
struct TrainingReportTests {
    @Test("the report draws loss and metric curves as SVG and names a malformed line")
    func report() throws {
        let lines = [
            #"{"event":"iteration_completed","epoch":1,"iteration":5,"elapsed_s":0.1,"world_size":2,"lr":0.05,"metrics":{"loss":2.0}}"#,
            #"{"event":"epoch_completed","epoch":1,"iteration":10,"elapsed_s":0.2,"world_size":2,"lr":0.05,"metrics":{"train_loss":1.5,"test_loss":1.2,"test_accuracy":0.7}}"#,
            #"{"event":"iteration_completed","epoch":2,"iteration":15,"elapsed_s":0.3,"world_size":2,"lr":0.05,"metrics":{"loss":0.9}}"#,
            #"{"event":"epoch_completed","epoch":2,"iteration":20,"elapsed_s":0.4,"world_size":2,"lr":0.05,"metrics":{"train_loss":0.8,"test_loss":0.7,"test_accuracy":0.85}}"#
        ]
        let svg = try TrainingReport.renderSVG(logLines: lines)
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        for text in ["test_accuracy", "train_loss", "test_loss", "loss (per iteration)", "world size 2", "test_accuracy 0.8500", "<polyline"] {
            #expect(svg.contains(text), "\(text)")
        }
        #expect(throws: TrainingReport.ReportError.malformed(line: 2, reason: "needs event, epoch and iteration")) {
            try TrainingReport.renderSVG(logLines: [lines[0], #"{"epoch":1}"#])
        }
        #expect(throws: TrainingReport.ReportError.empty) { try TrainingReport.renderSVG(logLines: ["", " "]) }
    }
}

@Suite("The training report across runs")
struct TrainingReportRunsTests {
    static func log(losses: [Double]) -> [String] {
        [#"{"event":"configuration","options":{"epochs":"3"},"world_size":1}"#]
            + losses.enumerated().map { index, loss in
                #"{"event":"epoch_completed","epoch":\#(index + 1),"iteration":\#(10 * (index + 1)),"world_size":1,"metrics":{"train_loss":\#(loss),"test_loss":\#(loss * 2),"test_accuracy":0.\#(index + 5)}}"#
            }
    }

    @Test("several runs share one figure with their names; a loss spanning decades gets a logarithmic axis")
    func runs() throws {
        let svg = try TrainingReport.renderSVG(runs: [("fast", Self.log(losses: [2, 0.2, 0.002])), ("slow", Self.log(losses: [2, 1.5, 1.2]))])
        #expect(svg.contains("2 swift-train runs"))
        for name in ["fast: train_loss", "slow: train_loss", "fast: test_loss", "slow: test_accuracy"] { #expect(svg.contains(name), "\(name)") }
        #expect(svg.contains("logarithmic axis"))
        let linear = try TrainingReport.renderSVG(runs: [("slow", Self.log(losses: [2, 1.5, 1.2]))])
        #expect(!linear.contains("logarithmic axis"))
    }
}

@Suite("Values a checkpoint or a summary must never let through")
struct LoadedValueTests {
    @Test("a summary writes a value that is not a finite number as null, keeping the summary")
    func nullSummary() {
        let summary = TrainingSummary(
            epoch: 1, iteration: 2, worldSize: 1, task: .classification,
            metrics: ["test_accuracy": .nan, "test_loss": .infinity], trainSamplesPerSecond: 10,
            parametersSHA256: "x", parameters: 3, checkpoint: nil)
        #expect(summary.jsonLine.contains(#""test_accuracy":null"#) && summary.jsonLine.contains(#""test_loss":null"#))
        #expect(summary.jsonLine.contains(#""epoch":1"#))
    }

    @Test(
        "a job record holding values no run could have is refused by the same checks as the command line",
        arguments: [
            ("builtin-samples", "0"), ("builtin-samples", "1000000000"), ("test-fraction", "nan"),
            ("model", "mlp:65536,65536"), ("optimizer", "lbfgs"), ("epochs", "ten"), ("unknown-option", "1")
        ])
    func impossibleRecord(key: String, value: String) throws {
        let record = JobRecord(configuration: TrainingConfiguration(), worldSize: 1)
        var state = record.stateDict()
        guard case .dictionary(var options)? = state["options"] else { throw StateDictError.missingKey("options") }
        options[key] = .string(value)
        state["options"] = .dictionary(options)
        #expect(throws: (any Error).self) { try JobRecord(configuration: TrainingConfiguration(), worldSize: 1).loadStateDict(state) }
    }

    @Test("an engine state with an epoch length of 2^62 or a negative position is refused or handled without overflow")
    func engineState() throws {
        let engine = Engine<Int, Int> { _, batch in batch }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(1 << 62), "epoch": .int(4), "max_epochs": .int(8)])
        }
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(3), "iteration": .int(-1), "max_epochs": .int(8)])
        }
        // Counts past 2^53, which no run reaches, are refused too (they once loaded and then trapped on the next
        // iteration's overflow); a large valid epoch length still loads.
        #expect(throws: StateDictError.self) {
            try engine.loadStateDict(["epoch_length": .int(1 << 62), "iteration": .int(5), "max_epochs": .int(8)])
        }
        try engine.loadStateDict(["epoch_length": .int(1 << 53), "iteration": .int(5), "max_epochs": .int(8)])
        #expect(!engine.isDone)
    }
}
