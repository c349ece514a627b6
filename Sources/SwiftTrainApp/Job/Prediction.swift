import Cluster
import EngineCore
import Foundation
import NeuralNet
import Training

/// `swift-train predict`: a checkpoint's model applied to the rows of a CSV file, written as a CSV file with one
/// row per input row, in input order: the predicted class and each class's probability, or the predicted value.
public enum Prediction {
    /// What `predict` reports on standard output.
    public struct Summary: Encodable, Sendable {
        /// Rows predicted.
        public var rows: Int
        /// Where the predictions were written.
        public var output: String
        /// The checkpoint's task.
        public var task: String
    }

    /// Predicts with every rank taking a contiguous share of the rows; rank 0 writes the file. Returns rank 0's summary.
    public static func run(checkpoint path: String, data: String, output: String, labelColumn: LabelColumnSpecification)
        throws -> Summary?
    {
        try TrainingLauncher.launchForTool { communicator in
            try predict(checkpoint: path, data: data, output: output, labelColumn: labelColumn, communicator: communicator)
        }
    }

    static func predict(
        checkpoint path: String, data: String, output: String, labelColumn: LabelColumnSpecification,
        communicator: any Communicator
    ) throws -> Summary {
        let tree = try CheckpointFile.readOnRoot(URL(fileURLWithPath: path), communicator: communicator)
        guard case .dictionary(let jobState)? = tree["job"] else { throw CheckpointError.missingObject(name: "job") }
        let record = JobRecord(configuration: TrainingConfiguration(), worldSize: 1)
        try record.loadStateDict(jobState)
        let configuration = record.configuration
        guard case .fixed(let task) = configuration.task else { throw CheckpointError.missingObject(name: "job.task") }
        let shape = try sampleShape(configuration)
        let outputs = task == .regression ? 1 : record.classNames.count
        guard outputs > 0 else { throw CheckpointError.objectMismatch(name: "job", detail: "no class names saved") }
        let model = try ModelFactory.makeModel(configuration.model, sampleShape: shape, classes: outputs, seed: configuration.seed)
        try Checkpoint.loadObjects(toLoad: ["model": ModelState(model)], checkpoint: tree)
        let features = shape.reduce(1, *)
        guard data.hasPrefix("csv:") else {
            throw ConfigurationError.invalid(option: "--data", value: data, expected: "csv:PATH, rows of \(features) features")
        }
        var rows = try CSVDataset.loadFeatures(
            path: String(data.dropFirst(4)), featureCount: features,
            labelColumn: labelColumn.csvLabelColumn, layout: record.layout)
        if case .dictionary(let normalization)? = tree["normalization"] {
            let state = NormalizationState(FeatureStatistics(mean: [], standardDeviation: []))
            try state.loadStateDict(normalization)
            let statistics = state.statistics
            for index in rows.indices {
                for feature in 0..<features {
                    rows[index][feature] = (rows[index][feature] - statistics.mean[feature]) / statistics.standardDeviation[feature]
                }
            }
        }
        // This rank's contiguous share of the rows, predicted in batches.
        let share = (rows.count + communicator.size - 1) / communicator.size
        let mine = Array(rows[min(rows.count, communicator.rank * share)..<min(rows.count, (communicator.rank + 1) * share)])
        var lines: [String] = []
        for start in stride(from: 0, to: mine.count, by: 256) {
            let batch = Array(mine[start..<min(mine.count, start + 256)])
            let predictions = try model(Tensor(shape: [batch.count] + model.inputShape, values: batch.flatMap { $0 }))
            for row in 0..<batch.count {
                let values = Array(predictions.values[(row * outputs)..<((row + 1) * outputs)])
                lines.append(line(values, task: task, record: record))
            }
        }
        let text = Array(lines.map { $0 + "\n" }.joined().utf8)
        let gathered = communicator.size > 1 ? try communicator.allGather(bytes: text) : [text]
        if communicator.rank == 0 {
            let header = task == .regression ? "prediction" : (["prediction"] + record.classNames.map { csvField("p_\($0)") }).joined(separator: ",")
            var file = Data((header + "\n").utf8)
            for part in gathered { file.append(contentsOf: part) }
            do { try file.write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                throw OutputFileError.unwritable(path: output, reason: "\(error.localizedDescription)")
            }
        }
        return Summary(rows: rows.count, output: output, task: task.rawValue)
    }

    /// One output row: the class and the probabilities (softmax of the logits), or the value in the data's units.
    static func line(_ values: [Float], task: LearningTask, record: JobRecord) -> String {
        if task == .regression {
            return "\(Double(values[0]) * record.targetStandardization.scale + record.targetStandardization.mean)"
        }
        let top = values.max() ?? 0
        let exponentials = values.map { Foundation.exp(Double($0 - top)) }
        let total = exponentials.reduce(0, +)
        let best = values.indices.max { values[$0] < values[$1] } ?? 0
        return ([csvField(record.classNames[best])] + exponentials.map { String(format: "%.6f", $0 / total) }).joined(separator: ",")
    }

    /// A CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line end.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The per-sample shape of the run's data, without loading it (CSV: from the normalisation statistics).
    static func sampleShape(_ configuration: TrainingConfiguration) throws -> [Int] {
        let prepared = try PreparedData(configuration)
        return prepared.train.sampleShape
    }
}
