import ArgumentParser
import SwiftTrainApp

// Option values the parser checks itself, so that a bad value is reported with the valid choices.

extension OptimizerKind: ExpressibleByArgument {}

/// The configuration's option types read their own command-line text: the parser builds them, and a value they
/// refuse is reported with what they expect (the options pass `init(parsing:)` as their transform).
extension DataSpecification: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public var defaultValueDescription: String { description }
}

extension LabelColumnSpecification: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
    public var defaultValueDescription: String { description }
}

extension ModelSpecification: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public var defaultValueDescription: String { description }
}

extension SchedulerSpecification: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public var defaultValueDescription: String { description }
}

extension ResumeSpecification: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
    public var defaultValueDescription: String { description }
}

extension InjectedFault: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
    public var defaultValueDescription: String { description }
}

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
