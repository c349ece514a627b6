import ArgumentParser
import SwiftTrainApp

// Option values the parser checks itself, so that a bad value is reported with the valid choices.

extension OptimizerKind: ExpressibleByArgument {}

/// `--task`: what the labels are.
enum TaskOption: String, CaseIterable, ExpressibleByArgument {
    case auto, classification, regression
    case languageModel = "language-model"

    var specification: TaskSpecification {
        switch self {
        case .auto: .auto
        case .classification: .fixed(.classification)
        case .regression: .fixed(.regression)
        case .languageModel: .fixed(.languageModel)
        }
    }
}

/// `evaluate --split`: which part of the run's own data.
enum SplitOption: String, CaseIterable, ExpressibleByArgument {
    case test, all
}
