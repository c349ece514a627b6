import Foundation
import Training

extension TrainingConfiguration {
    /// Checks every value a run depends on, whether it came from the command line or from a checkpoint, and
    /// refuses a run whose memory would exceed the machine's, with both figures.
    /// - Parameters:
    ///   - features: values per sample, once the data is known (the built-in data's are known before).
    ///   - samples: samples held by each rank, once known.
    ///   - ranksHere: ranks sharing this machine's memory (simulated ranks each hold a whole job).
    /// - Throws: `ConfigurationError` naming the option and the allowed range.
    public func validate(features: Int? = nil, samples: Int? = nil, ranksHere: Int = 1) throws {
        func require(_ condition: Bool, _ option: String, _ value: Any, _ range: String) throws {
            if !condition { throw ConfigurationError.outOfRange(option: option, value: "\(value)", range: range) }
        }
        try require(epochs >= 1 && epochs <= 1_000_000, "--epochs", epochs, "1 to 1,000,000")
        try require(batchSize >= 1, "--batch-size", batchSize, "at least 1")
        try require(testFraction > 0 && testFraction < 1, "--test-fraction", testFraction, "between 0 and 1")
        try require(learningRate > 0 && learningRate.isFinite, "--lr", learningRate, "a positive finite number")
        try require(momentum >= 0 && momentum < 1, "--momentum", momentum, "in [0, 1)")
        try require(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay", weightDecay, "a non-negative finite number")
        try require(builtinSamples >= 10 && builtinSamples <= 10_000_000, "--builtin-samples", builtinSamples, "10 to 10,000,000")
        try require(keep >= 1, "--keep", keep, "at least 1")
        if let checkpointEvery { try require(checkpointEvery >= 1, "--checkpoint-every", checkpointEvery, "at least 1") }
        if let threads { try require(threads >= 1 && threads <= 1024, "--threads", threads, "1 to 1,024") }
        if let microBatches {
            // One replica (a gradient buffer and activations) is kept per micro-batch beyond the first.
            try require(microBatches >= 1 && microBatches <= 64, "--micro-batches", microBatches, "1 to 64")
            try require(
                virtualShards == nil, "--micro-batches", microBatches, "left out with --virtual-shards (the shards are the micro-batches)")
        }
        if let virtualShards {
            try require(
                virtualShards >= 1 && virtualShards <= 65_536 && virtualShards & (virtualShards - 1) == 0,
                "--virtual-shards", virtualShards, "a power of two from 1 to 65,536")
            try require(!overlapCommunication, "--overlap", "on", "off with --virtual-shards (the tree exchange follows the last shard)")
        }
        if let learningRateSearch {
            try require(learningRateSearch >= 2 && learningRateSearch <= 1_000_000, "--lr-find", learningRateSearch, "2 to 1,000,000 iterations")
            try require(learningRate < 10, "--lr", learningRate, "below 10, the rate --lr-find rises to")
            try require(resume == .none, "--lr-find", learningRateSearch, "used without --resume (it searches from the start)")
            try require(checkpointDirectory == nil, "--lr-find", learningRateSearch, "used without --checkpoint-dir (a search saves nothing)")
        }
        if let evaluateEvery { try require(evaluateEvery >= 1, "--eval-every", evaluateEvery, "at least 1") }
        if let metrics {
            try require(!metrics.isEmpty, "--metrics", "", "at least one metric name")
            for name in metrics {
                try require(
                    TestMetricCatalog.isKnown(name), "--metrics", name,
                    "names from: " + LearningTask.allCases.flatMap { TestMetricCatalog.accepted(for: $0) }.joined(separator: ", "))
            }
            let repeated = Dictionary(grouping: metrics, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            try require(repeated.isEmpty, "--metrics", repeated.joined(separator: ","), "each metric once")
        }
        if let saveBest {
            try require(
                saveBest == "loss" || TestMetricCatalog.isKnown(saveBest), "--save-best", saveBest,
                "loss or a metric name of --metrics (" + LearningTask.allCases.flatMap { TestMetricCatalog.accepted(for: $0) }.joined(separator: ", ")
                    + ")")
            try require(checkpointDirectory != nil, "--save-best", saveBest, "used with --checkpoint-dir")
            let languageModelMetrics: Set<String> = ["loss", "perplexity", "bits_per_byte"]
            if data.isText {
                try require(
                    languageModelMetrics.contains(saveBest), "--save-best", saveBest, "loss, perplexity or bits_per_byte for a language model")
            } else {
                try require(
                    !["perplexity", "bits_per_byte"].contains(saveBest), "--save-best", saveBest, "a metric of a language model (--data text:PATH)")
            }
        }
        if let earlyStoppingPatience { try require(earlyStoppingPatience >= 1, "--early-stopping", earlyStoppingPatience, "at least 1") }
        if let emaDecay {
            try require(emaDecay > 0 && emaDecay < 1, "--ema", emaDecay, "a decay between 0 and 1, such as 0.999")
        }
        if let clipGradientNorm {
            try require(clipGradientNorm > 0 && clipGradientNorm.isFinite, "--clip-grad-norm", clipGradientNorm, "a positive number")
        }
        if let timeLimit { try require(timeLimit > 0 && timeLimit.isFinite, "--time-limit", timeLimit, "a positive number of seconds") }
        try require(ranksHere >= 1 && ranksHere <= 1024, "--simulate-ranks", ranksHere, "1 to 1,024")
        try require(context >= 1 && context <= 65_536, "--context", context, "1 to 65,536")
        try require(tbptt >= 1, "--tbptt", tbptt, "at least 1")
        if model.isLanguageModel != data.isText {
            throw ConfigurationError.invalid(
                option: "--model", value: model.description,
                expected: data.isText
                    ? "a language model for --data \(data): lstm:HIDDEN[,LAYERS], gru:HIDDEN[,LAYERS] or gpt:LAYERS,WIDTH,HEADS"
                    : "mlp, resmlp or cnn for --data \(data) (lstm, gru and gpt read --data text:PATH)")
        }
        if case .recurrent = model {
            try require(context % tbptt == 0, "--tbptt", tbptt, "a divisor of --context \(context)")
        }
        if data.isText, case .fixed(let task) = task, task != .languageModel {
            throw ConfigurationError.invalid(option: "--task", value: task.rawValue, expected: "language-model or auto for --data text:PATH")
        }
        var features = features
        var samples = samples
        if features == nil, samples == nil, case .csv(let path) = data, let shape = try? CSVDataset.estimatedShape(path: path) {
            // From the file's size and first lines, before a row is loaded: a file that cannot fit is refused now.
            (features, samples) = (Swift.max(shape.columns - 1, 1), shape.rows)
        }
        let estimate = estimatedBytesPerRank(features: features ?? builtinFeatures, samples: samples) * Double(ranksHere)
        let available = Double(ProcessInfo.processInfo.physicalMemory) * 0.9
        if estimate > available {
            throw ConfigurationError.tooLarge(needed: estimate, available: Double(ProcessInfo.processInfo.physicalMemory))
        }
    }

    /// Features per sample of the built-in data (16 x 16 glyphs); nil for files, known only once read.
    var builtinFeatures: Int? { data == .builtin ? 256 : data.isText ? context : nil }

    /// A lower estimate of the bytes one rank needs: data, parameters with gradients and two optimizer
    /// states, and one batch's activations and their gradients.
    func estimatedBytesPerRank(features: Int?, samples: Int?) -> Double {
        let sampleCount = Double(samples ?? (data == .builtin ? builtinSamples : 0))
        let inputs = Double(features ?? 1)
        var widths = [inputs]
        switch model {
        case .multilayerPerceptron(let hidden): widths += hidden.map(Double.init)
        case .convolutional: widths += [8 * inputs, 16 * inputs / 4]
        case .residualMLP(let width, let blocks): widths += Array(repeating: Double(width), count: blocks + 1)
        case .recurrent(_, let hidden, let layers):
            // Per step: the gates and states of every layer, the logits; per layer the weights.
            widths += Array(repeating: Double(4 * hidden), count: layers) + [256]
        case .gpt(let layers, let width, _):
            widths += Array(repeating: Double(6 * width), count: layers) + [256]
        }
        widths.append(10)
        var parameters = 0.0
        for index in 1..<widths.count { parameters += widths[index - 1] * widths[index] + widths[index] }
        let batch = Double(batchSize)
        let activations = batch * widths.reduce(0, +) * 2
        // The data twice (the loaded set and its split), the model four times (parameters, gradients, two states).
        // Each sample's label text while a CSV file loads (a small string: 16 bytes).
        return 4 * (2 * sampleCount * inputs + 4 * parameters + activations + batch * inputs) + 16 * sampleCount
    }
}

extension TrainingConfiguration {
    /// Checks the options that depend on the data once it is loaded; returns the test metrics the run computes.
    /// - Throws: `ConfigurationError` naming the option the data rules out.
    func testMetricNames(for data: PreparedData) throws -> [String] {
        try validate(features: data.train.featureCount, samples: data.train.count + data.test.count)
        if let count = virtualShards, count > data.train.count {
            // Every shard past the samples would train on padding: copies of the same samples, 65,536 passes for 300.
            throw ConfigurationError.invalid(
                option: "--virtual-shards", value: String(count),
                expected: "at most the \(data.train.count) training samples (each shard takes at least one)")
        }
        let names = metrics ?? TestMetricCatalog.defaults(for: data.task)
        try TestMetricCatalog.validate(
            names, task: data.task, classes: Swift.max(data.train.classCount, data.test.classCount), virtualShards: virtualShards != nil)
        if let metric = saveBest {
            // A metric the run does not compute would rank every checkpoint at -inf.
            let computed = ["loss"] + (data.task == .regression ? ["mse"] : []) + names
            guard computed.contains(metric) else {
                throw ConfigurationError.invalid(
                    option: "--save-best", value: metric,
                    expected: "a metric of this \(data.task.rawValue) run: " + computed.joined(separator: ", ") + " (--metrics adds others)")
            }
        }
        guard data.train.count > 0 else {
            throw ConfigurationError.invalid(option: "--data", value: self.data.description, expected: "at least one training sample")
        }
        return names
    }
}
