import Training

extension TrainingJob {
    /// `--lr-find`: the learning-rate search on this run's trainer, model and data; nothing is trained or saved.
    func searchLearningRate(iterations: Int) throws -> TrainingSummary {
        let finder = try LearningRateFinder(end: 10, iterations: iterations)
        let result = try finder.run(
            trainer: trainer, data: trainLoader, optimizer: optimizer, restoring: [ModelState(model)],
            communicator: communicator
        ) { Double($0.loss) }
        var summary = TrainingSummary(
            epoch: 0, iteration: 0, worldSize: communicator.size, task: plan.task, metrics: [:],
            trainSamplesPerSecond: 0, parametersSHA256: Self.parametersSHA256(model),
            parameters: model.parameterCount, checkpoint: nil)
        summary.learningRateSearch = LearningRateSearchSummary(
            rates: result.learningRates, losses: result.losses, diverged: result.diverged,
            suggestion: try? result.suggestion())
        if let search = summary.learningRateSearch {
            logger?.logLearningRateSearch(rates: search.rates, losses: search.losses, suggestion: search.suggestion)
        }
        if summary.learningRateSearch?.suggestion == nil {
            note("the loss did not fall over at least 3 iterations of the search: no suggestion (start from a lower --lr)")
        }
        return summary
    }
}
