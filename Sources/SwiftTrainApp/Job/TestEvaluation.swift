import EngineCore
import Training

extension Event {
    /// Fired by the job after each evaluation on the test split (every epoch, and every `--eval-every` iterations).
    public static let evaluationCompleted = Event("EVALUATION_COMPLETED")
}

/// The run's test metrics: the data-parallel evaluation of the test split (with the parameters' moving average when
/// `--ema` keeps one), run at each epoch's end and every `--eval-every` iterations, at most once per iteration.
final class TestEvaluation {
    let evaluation: DataParallelEvaluation<SupervisedOutput>
    let plan: TaskPlan
    var parameterAverage: ExponentialMovingAverage?
    /// Logs each `--eval-every` evaluation when set.
    var logger: JSONLinesLogger?
    private(set) var last: (iteration: Int, metrics: [String: Double])?

    init(_ evaluation: DataParallelEvaluation<SupervisedOutput>, plan: TaskPlan) throws {
        self.evaluation = evaluation
        self.plan = plan
        try plan.attachMetrics(to: evaluation)
    }

    /// The test metrics of the parameters at `iteration` under their summary names (evaluating only if not done at it).
    func metrics(at iteration: Int) throws -> [String: Double] {
        if let last, last.iteration == iteration { return last.metrics }
        if let parameterAverage { try parameterAverage.withAveragedParameters { try evaluation.run() } } else { try evaluation.run() }
        let metrics = plan.results(of: evaluation.evaluator)
        last = (iteration, metrics)
        return metrics
    }

    /// Evaluates at each epoch's end and every `every` iterations, writing the metrics into the trainer's state and
    /// firing `.evaluationCompleted` after a fresh evaluation; its time is left out of `clock`'s.
    func attach(to trainer: Engine<SupervisedBatch, SupervisedOutput>, every: Int?, clock: RunClock) throws {
        trainer.registerEvents(.evaluationCompleted, counter: .iteration)
        let evaluate: (Engine<SupervisedBatch, SupervisedOutput>) throws -> Void = { [self] engine in
            let fresh = last?.iteration != engine.state.iteration
            let metrics = try clock.excluding { try self.metrics(at: engine.state.iteration) }
            for (name, value) in metrics { engine.state.metrics[name] = value }
            if fresh { try engine.fireEvent(.evaluationCompleted) }
        }
        try trainer.on(.epochCompleted, evaluate)
        if let every {
            try trainer.on(.iterationCompleted(every: every)) { [self] engine in
                try evaluate(engine)
                logger?.log(event: "evaluation", state: engine.state, metrics: engine.state.metrics)
            }
        }
    }

    /// The score `--save-best` and `--early-stopping` follow (higher is better): test metric `metric` of the last
    /// evaluation, negated for the losses and errors.
    func score(of metric: String) -> Double {
        let value = last?.metrics["test_\(metric)"] ?? .nan
        let score = TestMetricCatalog.isLoss(metric) ? -value : value
        return score.isFinite ? score : -.infinity
    }
}
