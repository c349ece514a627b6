import EngineCore
import Foundation

/// A metric computed from other metrics' values with arithmetic, as Ignite's `MetricsLambda` and metric operators:
/// `(precision * recall * 2) / (precision + recall)` builds one metric; attached once, it resets and updates each
/// metric it reads once per event and computes each once, whatever how often it appears.
///
/// ```swift
/// let transform = { (o: SupervisedOutput) in ClassificationBatch(predictions: o.predictions, targets: o.targets) }
/// let p = MetricExpression<SupervisedBatch, SupervisedOutput>(try PrecisionRecall(.precision, classes: 3), transform)
/// let r = MetricExpression<SupervisedBatch, SupervisedOutput>(try PrecisionRecall(.recall, classes: 3), transform)
/// try (p * r * 2 / (p + r)).attach(to: evaluator, name: "f1")
/// ```
public struct MetricExpression<Batch, Output> {
    /// One metric the expression reads: how to attach its updates and compute it.
    fileprivate struct Leaf {
        let attach: (Engine<Batch, Output>, MetricUsage) throws -> Void
        let compute: () throws -> Double
    }

    /// The metrics read, in the order they first appear (the order their collectives run in, the same on every rank).
    fileprivate var leaves: [(id: ObjectIdentifier, leaf: Leaf)]
    fileprivate let evaluate: ([ObjectIdentifier: Double]) -> Double

    /// The value of `metric`, fed by `outputTransform` of the engine's output.
    public init<M: Metric>(_ metric: M, _ outputTransform: @escaping (Output) -> M.Input) {
        let id = ObjectIdentifier(metric)
        leaves = [
            (
                id,
                Leaf(
                    attach: { engine, usage in try metric.attachUpdates(to: engine, usage: usage, outputTransform: outputTransform) },
                    compute: { try metric.compute() })
            )
        ]
        evaluate = { $0[id]! }
    }

    /// A constant.
    public init(_ constant: Double) {
        leaves = []
        evaluate = { _ in constant }
    }

    private init(leaves: [(id: ObjectIdentifier, leaf: Leaf)], evaluate: @escaping ([ObjectIdentifier: Double]) -> Double) {
        self.leaves = leaves
        self.evaluate = evaluate
    }

    /// This expression's value passed through `function` (`sqrt`, `log`, a user's formula).
    public func map(_ function: @escaping (Double) -> Double) -> MetricExpression {
        let evaluate = self.evaluate
        return MetricExpression(leaves: leaves) { function(evaluate($0)) }
    }

    /// Two expressions combined by `function`.
    public static func combine(
        _ lhs: MetricExpression, _ rhs: MetricExpression,
        _ function: @escaping (Double, Double) -> Double
    ) -> MetricExpression {
        let (left, right) = (lhs.evaluate, rhs.evaluate)
        let known = Set(lhs.leaves.map(\.id))
        return MetricExpression(leaves: lhs.leaves + rhs.leaves.filter { !known.contains($0.id) }) { function(left($0), right($0)) }
    }

    /// The value now: each metric computed once (a collective for metrics with a communicator).
    public func compute() throws -> Double {
        var values: [ObjectIdentifier: Double] = [:]
        for (id, leaf) in leaves { values[id] = try leaf.compute() }
        return evaluate(values)
    }

    /// Attaches the metrics' resets and updates (once each) and writes the value as `state.metrics[name]` at
    /// `usage`'s compute event.
    public func attach(to engine: Engine<Batch, Output>, name: String, usage: MetricUsage = .epochWise) throws {
        for (_, leaf) in leaves { try leaf.attach(engine, usage) }
        try engine.on(usage.events.compute) { engine in engine.state.metrics[name] = try compute() }
    }

    public static func + (lhs: Self, rhs: Self) -> Self { combine(lhs, rhs, +) }
    public static func - (lhs: Self, rhs: Self) -> Self { combine(lhs, rhs, -) }
    public static func * (lhs: Self, rhs: Self) -> Self { combine(lhs, rhs, *) }
    public static func / (lhs: Self, rhs: Self) -> Self { combine(lhs, rhs, /) }
    public static func + (lhs: Self, rhs: Double) -> Self { lhs + Self(rhs) }
    public static func - (lhs: Self, rhs: Double) -> Self { lhs - Self(rhs) }
    public static func * (lhs: Self, rhs: Double) -> Self { lhs * Self(rhs) }
    public static func / (lhs: Self, rhs: Double) -> Self { lhs / Self(rhs) }
    public static func + (lhs: Double, rhs: Self) -> Self { Self(lhs) + rhs }
    public static func - (lhs: Double, rhs: Self) -> Self { Self(lhs) - rhs }
    public static func * (lhs: Double, rhs: Self) -> Self { Self(lhs) * rhs }
    public static func / (lhs: Double, rhs: Self) -> Self { Self(lhs) / rhs }
}
