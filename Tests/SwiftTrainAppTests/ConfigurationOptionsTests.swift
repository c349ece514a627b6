import Foundation
import Testing

@testable import SwiftTrainApp

@Suite("TrainingConfiguration: one list of options, coded as their command-line texts")
struct ConfigurationOptionsTests {
    @Test("every stored property is an option of the list (a property missing from it would be silently lost)")
    func everyPropertyListed() {
        let properties = Mirror(reflecting: TrainingConfiguration()).children.count
        #expect(properties == TrainingConfiguration.CodingKeys.allCases.count)
    }

    @Test("a configuration with every option changed comes back from its options' texts equal")
    func roundTrip() throws {
        var c = TrainingConfiguration()
        c.data = .csv(path: "/tmp/houses.csv")
        c.labelColumn = .named("price")
        c.testFraction = 0.3
        c.testData = .idx(directory: "/tmp/mnist")
        c.task = .fixed(.regression)
        c.model = .gpt(layers: 2, width: 64, heads: 4)
        c.epochs = 7
        c.batchSize = 16
        c.virtualShards = 8
        c.microBatches = 4
        c.learningRate = 0.001
        c.optimizer = .adamw
        c.momentum = 0.5
        c.weightDecay = 0.1
        c.scheduler = try SchedulerSpecification(parsing: "warmup:10+cosine")
        c.seed = .max
        c.checkpointDirectory = "/tmp/checkpoints"
        c.checkpointEvery = 5
        c.keep = 3
        c.resume = .path("/tmp/checkpoint_5.safetensors")
        c.logPath = "/tmp/run.jsonl"
        c.progress = false
        c.deterministic = true
        c.consistencyCheckEvery = 4
        c.threads = 2
        c.normalize = false
        c.builtinSamples = 500
        c.overlapCommunication = true
        c.stopAfterIterations = 11
        c.injectedFault = try InjectedFault(parsing: "kill:1:6")
        c.collectiveTimeout = 30
        c.evaluateEvery = 9
        c.saveBest = "r2"
        c.earlyStoppingPatience = 3
        c.clipGradientNorm = 1.5
        c.metrics = ["mae", "r2"]
        c.emaDecay = 0.99
        c.tensorBoardDirectory = "/tmp/tb"
        c.tracePath = "/tmp/trace.json"
        c.learningRateSearch = 50
        c.timeLimit = 60
        c.context = 64
        c.tbptt = 16
        let texts = Dictionary(uniqueKeysWithValues: c.options.map { ($0.key, $0.text) })
        #expect(texts.count == TrainingConfiguration.CodingKeys.allCases.count)
        #expect(texts["model"] == "gpt:2,64,4" && texts["seed"] == "18446744073709551615" && texts["metrics"] == "mae,r2")
        #expect(try TrainingConfiguration(options: texts) == c)
        // Options left out keep their defaults; options at nil are absent.
        #expect(try TrainingConfiguration(options: [:]) == TrainingConfiguration())
        #expect(!TrainingConfiguration().options.contains { $0.key == "virtual-shards" })
    }

    @Test("a text that is no value of its option, or an unknown option, is refused naming the option")
    func refusals() {
        for (key, text, expected) in [
            ("epochs", "ten", "invalid --epochs 'ten': expected an integer"),
            ("lr", "inf", "invalid --lr 'inf': expected a number"),
            ("model", "mlp:x", "invalid --model 'mlp:x'"),
            ("optimizer", "lbfgs", "invalid --optimizer 'lbfgs'"),
            ("progress", "yes", "invalid --progress 'yes': expected true or false"),
            ("colour", "red", "invalid --colour 'red'")
        ] {
            #expect(performing: { try TrainingConfiguration(options: [key: text]) }, throws: { "\($0)".contains(expected) })
        }
    }
}
