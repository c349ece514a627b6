import Training
import EngineCore
import Foundation

extension TrainingJob {
    /// Train loss per epoch on the trainer; the task's test metrics over the whole test split on the evaluator.
    func attachMetrics(to engine: Engine<SupervisedBatch, SupervisedOutput>) throws {
        try Loss(communicator: communicator).attach(to: engine, name: "train_loss") { (Double($0.loss), $0.count) }
        try plan.attachMetrics(to: evaluator, communicator: communicator)
    }

    /// The configured learning-rate schedule, per iteration (or per epoch for step decay).
    func attachScheduler(to engine: Engine<SupervisedBatch, SupervisedOutput>) throws {
        let base = configuration.learningRate
        let perEpoch = trainLoader.batchesPerPass
        let total = perEpoch * configuration.epochs
        switch configuration.scheduler {
        case .constant:
            return
        case .step(let epochs, let gamma):
            let scheduler = LearningRateScheduler(target: learningRate,
                                                  schedule: LearningRateScheduler.step(base: base, stepSize: epochs, gamma: gamma))
            try scheduler.attach(to: engine, event: .epochStarted)
            self.scheduler = scheduler
        case .cosine:
            let scheduler = LearningRateScheduler(target: learningRate,
                                                  schedule: LearningRateScheduler.cosine(base: base, cycle: Swift.max(total, 1)))
            try scheduler.attach(to: engine)
            self.scheduler = scheduler
        case .warmup(let iterations):
            let scheduler = LearningRateScheduler(
                target: learningRate, schedule: LearningRateScheduler.warmup(events: iterations) { _ in base })
            try scheduler.attach(to: engine)
            self.scheduler = scheduler
        case .warmupCosine(let iterations):
            let cosine = LearningRateScheduler.cosine(base: base, cycle: Swift.max(total - iterations, 1))
            let scheduler = LearningRateScheduler(target: learningRate,
                                                  schedule: LearningRateScheduler.warmup(events: iterations, then: cosine))
            try scheduler.attach(to: engine)
            self.scheduler = scheduler
        }
    }

    /// The JSON-lines log and the progress bar, on rank 0.
    func attachReporting(to engine: Engine<SupervisedBatch, SupervisedOutput>) throws {
        if let path = configuration.logPath {
            let rate = learningRate
            let logger = try JSONLinesLogger(path: path, worldSize: communicator.size, isWriter: isLeader,
                                             learningRate: { rate.learningRate })
            logger.logConfiguration(configuration.optionValues.map { ($0.option.replacingOccurrences(of: "--", with: ""), $0.value) })
            try logger.attach(to: engine, every: Swift.max(1, trainLoader.batchesPerPass / 10)) { ["loss": Double($0.loss)] }
            self.logger = logger
        }
        if configuration.progress && isLeader {
            try ProgressBar().attach(to: engine) { Double($0.loss) }
        }
    }
}
