import ChildProcesses
import EngineCore
import Foundation
import Training

/// Draws the JSON-lines logs of one or several runs (`--log`) as an SVG (or PNG): loss curves (per-iteration
/// loss, training loss, validation loss, evaluations inside epochs included) and metric curves against epochs. A
/// loss that spans more than two decades is drawn on a logarithmic axis.
public enum TrainingReport {
    /// A log that cannot be drawn.
    public enum ReportError: Error, Equatable, CustomStringConvertible {
        case unreadable(path: String)
        case malformed(line: Int, reason: String)
        case empty
        case unwritable(path: String)
        case noRasteriser

        public var description: String {
            switch self {
            case .unreadable(let path): "\(path): cannot read the log"
            case .malformed(let line, let reason): "log line \(line): \(reason)"
            case .empty: "the log has no entries to draw"
            case .unwritable(let path): "\(path): cannot write the figure"
            case .noRasteriser: "PNG output needs rsvg-convert (Debian's librsvg2-bin; launch/setup installs it); write .svg instead"
            }
        }
    }

    struct Point {
        let x: Double
        let y: Double
    }

    /// Reads the log at `logAt` and writes the SVG to `to`; returns what was skipped, said in words.
    @discardableResult
    public static func render(logAt source: URL, to destination: URL) throws -> [String] {
        try render(logsAt: [source], to: destination)
    }

    /// Reads the logs and writes one figure to `destination`: SVG, or PNG when its name ends in `.png` (rendered
    /// from the SVG by `rsvg-convert`, Debian's librsvg2-bin, which `launch/setup` installs).
    /// The figure is written under a temporary name and renamed, so a failure never leaves half a file. Returns
    /// what was skipped (entries with negative counters, values that are not finite or too large to draw).
    @discardableResult
    public static func render(logsAt sources: [URL], to destination: URL) throws -> [String] {
        var runs: [(name: String, lines: [String])] = []
        for source in sources {
            guard let text = try? String(contentsOf: source, encoding: .utf8) else { throw ReportError.unreadable(path: source.path) }
            runs.append(
                (
                    source.deletingPathExtension().lastPathComponent,
                    text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                ))
        }
        var notes: [String] = []
        try write(try renderSVG(runs: runs, notes: &notes), to: destination)
        return notes
    }

    /// Draws a learning-rate search (the loss against the rate, the suggestion marked) as SVG or PNG.
    /// - Throws: `ReportError` when the figure cannot be written (or no PNG rasteriser is installed).
    public static func render(search: LearningRateSearchSummary, to destination: URL) throws {
        let (width, height) = (1000.0, 400.0)
        let svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """ + searchPanel([("search", search)], multipleRuns: false, top: 20, width: width, height: height - 40) + "</svg>\n"
        try write(svg, to: destination)
    }

    /// Writes `svg` as the file's kind: SVG as it is, PNG through rsvg-convert (replacing the file atomically).
    static func write(_ svg: String, to destination: URL) throws {
        guard destination.pathExtension.lowercased() == "png" else {
            do { try svg.write(to: destination, atomically: true, encoding: .utf8) } catch {
                throw ReportError.unwritable(path: destination.path)
            }
            return
        }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("swift-train-report-\(getpid()).svg")
        defer { try? FileManager.default.removeItem(at: temporary) }
        do { try svg.write(to: temporary, atomically: true, encoding: .utf8) } catch {
            throw ReportError.unwritable(path: temporary.path)
        }
        let converter: ChildProcess
        let partial = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(getpid()).partial")
        defer { try? FileManager.default.removeItem(at: partial) }
        do {
            converter = try ChildProcess(
                ["rsvg-convert", "--format", "png", "--zoom", "1.5", "--output", partial.path, temporary.path],
                standardError: .null)
        } catch { throw ReportError.noRasteriser }
        guard converter.wait().succeeded, rename(partial.path, destination.path) == 0 else {
            throw ReportError.unwritable(path: destination.path)
        }
    }

    /// The SVG for the lines of a log.
    public static func renderSVG(logLines: [String]) throws -> String {
        try renderSVG(runs: [("run", logLines)])
    }

    /// The SVG for several runs' logs, each series named after its run when there are several.
    public static func renderSVG(runs: [(name: String, lines: [String])]) throws -> String {
        var notes: [String] = []
        return try renderSVG(runs: runs, notes: &notes)
    }

    /// The SVG for several runs' logs; `notes` receives what was skipped, per run.
    public static func renderSVG(runs: [(name: String, lines: [String])], notes: inout [String]) throws -> String {
        var series: [String: [Point]] = [:]
        var worldSizes: [Int] = []
        var final: [String] = []
        var searches: [(name: String, search: LearningRateSearchSummary)] = []
        for run in runs {
            let prefix = runs.count > 1 ? "\(run.name): " : ""
            let parsed = try readRun(run.lines)
            worldSizes.append(parsed.worldSize)
            if parsed.skippedEntries > 0 {
                notes.append("\(run.name): skipped \(parsed.skippedEntries) entries with a negative epoch or iteration")
            }
            if parsed.skippedValues > 0 {
                notes.append("\(run.name): skipped \(parsed.skippedValues) values that are not finite or beyond ±1e100")
            }
            for (name, points) in parsed.series { series[prefix + name, default: []] += points }
            if let search = parsed.search { searches.append((run.name, search)) }
            for name in ["test_accuracy", "test_r2", "test_loss", "train_loss"] {
                if let last = parsed.series[name]?.sorted(by: { $0.x < $1.x }).last {
                    final.append(String(format: "%@%@ %.4f", prefix, name, last.y))
                }
            }
        }
        let lossSeries = series.filter { $0.key.contains("loss") || $0.key.contains("mse") || $0.key.contains("mae") }
        let metricSeries = series.filter { !lossSeries.keys.contains($0.key) }
        let width = 1000.0
        let panelHeight = 320.0
        let sizes = Set(worldSizes).sorted().map(String.init).joined(separator: ", ")
        let title = runs.count > 1 ? "\(runs.count) swift-train runs (world size \(sizes))" : "swift-train run: world size \(sizes)"
        // A log of a learning-rate search alone has no curves over epochs: its figure is the search.
        let drawsCurves = !series.isEmpty || searches.isEmpty
        let height = Int((drawsCurves ? 2 * panelHeight + 110 : 70) + (searches.isEmpty ? 0 : panelHeight + 20))
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(height)" \
            viewBox="0 0 \(Int(width)) \(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="24" text-anchor="middle" font-size="16" font-weight="bold">\(escape(title))</text>
            <text x="\(width / 2)" y="44" text-anchor="middle" fill="#444">\(escape(final.isEmpty ? "" : "final " + final.joined(separator: ", ")))</text>

            """
        if drawsCurves {
            svg += panel(
                title: "Loss (training and validation)", series: lossSeries, top: 60, width: width, height: panelHeight,
                unitRange: false)
            svg += panel(
                title: "Metrics", series: metricSeries, top: 80 + panelHeight, width: width, height: panelHeight,
                unitRange: true)
        }
        if !searches.isEmpty {
            svg += searchPanel(
                searches, multipleRuns: runs.count > 1, top: drawsCurves ? 100 + 2 * panelHeight : 60, width: width, height: panelHeight)
        }
        return svg + "</svg>\n"
    }

    /// The learning-rate searches (`--lr-find`, `lr-find`): the smoothed loss against the rate on a logarithmic axis,
    /// with each suggestion marked.
    static func searchPanel(
        _ searches: [(name: String, search: LearningRateSearchSummary)], multipleRuns: Bool, top: Double, width: Double, height: Double
    ) -> String {
        let (left, right, bottom, plotTop) = (70.0, width - 220, top + height - 40, top + 25)
        var svg = "<g>\n<text x=\"\(left)\" y=\"\(top + 12)\" font-weight=\"bold\">Learning-rate search (loss against the rate)</text>\n"
        let points = searches.flatMap { entry in
            zip(entry.search.rates, entry.search.losses).filter { $0.0 > 0 && $0.0.isFinite && $0.1.isFinite && abs($0.1) <= 1e100 }
        }
        guard !points.isEmpty else { return svg + "<text x=\"\(left)\" y=\"\(top + 40)\" fill=\"#777\">no finite losses</text>\n</g>\n" }
        let xLow = floor(log10(points.map(\.0).min()!))
        let xHigh = Swift.max(ceil(log10(points.map(\.0).max()!)), xLow + 1)
        var yTicks = niceTicks(points.map(\.1).min()!, points.map(\.1).max()!)
        if yTicks.count < 2 { yTicks = [yTicks[0] - 0.5, yTicks[0] + 0.5] }
        let (yMin, yMax) = (yTicks.first!, yTicks.last!)
        func sx(_ rate: Double) -> Double { left + (log10(rate) - xLow) / (xHigh - xLow) * (right - left) }
        func sy(_ loss: Double) -> Double { bottom - (loss - yMin) / Swift.max(yMax - yMin, 1e-12) * (bottom - plotTop) }
        svg += "<rect x=\"\(left)\" y=\"\(plotTop)\" width=\"\(right - left)\" height=\"\(bottom - plotTop)\" fill=\"none\" stroke=\"#999\"/>\n"
        for tick in yTicks {
            svg += "<line x1=\"\(left)\" y1=\"\(sy(tick))\" x2=\"\(right)\" y2=\"\(sy(tick))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(sy(tick) + 4)\" text-anchor=\"end\">\(String(format: "%g", tick))</text>\n"
        }
        let decadeStep = Swift.max(1, ((xHigh - xLow) / 10).rounded(.up))
        for decade in stride(from: xLow, through: xHigh, by: decadeStep) {
            let x = left + (decade - xLow) / (xHigh - xLow) * (right - left)
            svg += "<text x=\"\(x)\" y=\"\(bottom + 16)\" text-anchor=\"middle\">\(String(format: "%g", pow(10, decade)))</text>\n"
        }
        svg += "<text x=\"\((left + right) / 2)\" y=\"\(bottom + 32)\" text-anchor=\"middle\">learning rate</text>\n"
        for (index, entry) in searches.enumerated() {
            let color = palette[index % palette.count]
            let line = zip(entry.search.rates, entry.search.losses)
                .filter { $0.0 > 0 && $0.0.isFinite && $0.1.isFinite && abs($0.1) <= 1e100 }
                .map { String(format: "%.2f,%.2f", sx($0.0), sy($0.1)) }.joined(separator: " ")
            svg += "<polyline points=\"\(line)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
            let name = multipleRuns ? "\(entry.name): " : ""
            var label = name + "no suggestion"
            if let suggestion = entry.search.suggestion, suggestion > 0, suggestion.isFinite {
                let x = sx(suggestion)
                svg += "<line x1=\"\(x)\" y1=\"\(plotTop)\" x2=\"\(x)\" y2=\"\(bottom)\" stroke=\"\(color)\" stroke-dasharray=\"4 3\"/>\n"
                label = name + String(format: "suggestion %.4g", suggestion)
            }
            svg += "<text x=\"\(right + 10)\" y=\"\(plotTop + 16 + 18 * Double(index))\" fill=\"\(color)\">\(escape(label))</text>\n"
        }
        return svg + "</g>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }

    /// One run's series: epoch-level values at whole epochs, evaluations inside epochs at their fraction, and
    /// per-iteration values as "NAME (per iteration)".
    static func readRun(_ logLines: [String]) throws
        -> (series: [String: [Point]], worldSize: Int, skippedEntries: Int, skippedValues: Int, search: LearningRateSearchSummary?)
    {
        var search: LearningRateSearchSummary?
        var series: [String: [Point]] = [:]
        var skippedEntries = 0
        var skippedValues = 0
        var iterationsPerEpoch: Double?
        var worldSize = 1
        var entries: [(event: String, epoch: Int, iteration: Int, metrics: StateDict)] = []
        for (index, line) in logLines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parsed: StateValue
            do { parsed = try StateValue(json: line) } catch {
                throw ReportError.malformed(line: index + 1, reason: "\(error)")
            }
            if case .dictionary(let entry) = parsed, entry["event"] == .string("configuration") { continue }
            guard case .dictionary(let entry) = parsed, case .string(let event)? = entry["event"],
                case .int(let epoch)? = entry["epoch"], case .int(let iteration)? = entry["iteration"]
            else {
                throw ReportError.malformed(line: index + 1, reason: "needs event, epoch and iteration")
            }
            guard epoch >= 0 && iteration >= 0 else {
                skippedEntries += 1
                continue
            }
            if case .int(let size)? = entry["world_size"], size > 0 { worldSize = size }
            if event == "lr_find" {
                func numbers(_ key: String) -> [Double] {
                    guard case .array(let values)? = entry[key] else { return [] }
                    return values.map { value in
                        switch value {
                        case .double(let number): number
                        case .int(let number): Double(number)
                        default: .nan
                        }
                    }
                }
                let suggestion: Double? =
                    switch entry["suggestion"] {
                    case .double(let number)?: number
                    case .int(let number)?: Double(number)
                    default: nil
                    }
                search = LearningRateSearchSummary(rates: numbers("rates"), losses: numbers("losses"), diverged: false, suggestion: suggestion)
            }
            var metrics: StateDict = [:]
            if case .dictionary(let values)? = entry["metrics"] { metrics = values }
            entries.append((event, epoch, iteration, metrics))
            if event == "epoch_completed", epoch > 0, iterationsPerEpoch == nil { iterationsPerEpoch = Double(iteration) / Double(epoch) }
        }
        guard !entries.isEmpty else {
            throw skippedEntries > 0
                ? ReportError.malformed(line: 1, reason: "every entry has a negative epoch or iteration")
                : ReportError.empty
        }
        let perEpoch = iterationsPerEpoch ?? Double(entries.map(\.iteration).max() ?? 1)
        for entry in entries {
            let x = entry.event == "epoch_completed" ? Double(entry.epoch) : Double(entry.iteration) / Swift.max(perEpoch, 1)
            // An evaluation inside an epoch carries the epoch's other metrics too: only its test values are new.
            for (name, value) in entry.metrics where entry.event != "evaluation" || name.hasPrefix("test_") {
                let number: Double
                switch value {
                case .double(let v): number = v
                case .int(let v): number = Double(v)
                default: continue
                }
                // Beyond ±1e100 the axis arithmetic itself overflows; such a value is said, not drawn.
                guard number.isFinite && abs(number) <= 1e100 else {
                    skippedValues += 1
                    continue
                }
                let key = entry.event == "iteration_completed" ? "\(name) (per iteration)" : name
                series[key, default: []].append(Point(x: x, y: number))
            }
        }
        return (series, worldSize, skippedEntries, skippedValues, search)
    }

    /// Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten, about `count` of them.
    /// At most `count + 2` ticks; a span too small for the values' precision gets its two ends.
    static func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
        let span = Swift.max(high - low, 1e-12)
        let raw = span / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = floor(low / step) * step
        let last = ceil(high / step) * step
        let steps = (last - first) / step
        // A step below the values' precision (1e300 next to 1e300 + 1) would never advance: two ticks instead.
        guard steps.isFinite, steps <= Double(count + 2), first + step != first, last - step != last else {
            return low == high ? [low - 0.5, high + 0.5] : [low, high]
        }
        return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    static func panel(
        title: String, series: [String: [Point]], top: Double, width: Double, height: Double,
        unitRange: Bool
    ) -> String {
        let left = 70.0
        let right = width - 220
        let bottom = top + height - 40
        let points = series.values.flatMap { $0 }
        var svg = "<g>\n<text x=\"\(left)\" y=\"\(top + 12)\" font-weight=\"bold\">\(title)</text>\n"
        guard !points.isEmpty else {
            return svg + "<text x=\"\(left)\" y=\"\(top + 40)\" fill=\"#777\">no values logged</text>\n</g>\n"
        }
        var yMin = points.map(\.y).min()!
        var yMax = points.map(\.y).max()!
        // A loss spanning more than two decades reads better on a logarithmic axis.
        let logarithmic = !unitRange && yMin > 0 && yMax / yMin > 100
        let transform: (Double) -> Double = logarithmic ? { log10($0) } : { $0 }
        if logarithmic { (yMin, yMax) = (floor(log10(yMin)), ceil(log10(yMax))) }
        if unitRange && yMin >= 0 && yMax <= 1 { (yMin, yMax) = (0, 1) }
        if yMax - yMin < 1e-9 { (yMin, yMax) = (yMin - 0.5, yMax + 0.5) }
        let xTicks = niceTicks(0, Swift.max(points.map(\.x).max()!, 1e-9))
        // A logarithmic axis gets at most about ten decade ticks, whatever the range (1e-300 to 1e300).
        let decadeStep = Swift.max(1, ((yMax - yMin) / 10).rounded(.up))
        if logarithmic { yMax = yMin + ((yMax - yMin) / decadeStep).rounded(.up) * decadeStep }
        let yTicks = logarithmic ? Array(stride(from: yMin, through: yMax + decadeStep / 2, by: decadeStep)) : niceTicks(yMin, yMax)
        let xMin = xTicks.first!
        let xMax = xTicks.last!
        (yMin, yMax) = (yTicks.first!, yTicks.last!)
        let plotTop = top + 25
        func sx(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (right - left) }
        func sy(_ value: Double) -> Double { bottom - (transform(value) - yMin) / (yMax - yMin) * (bottom - plotTop) }
        func tickY(_ tick: Double) -> Double { bottom - (tick - yMin) / (yMax - yMin) * (bottom - plotTop) }
        svg += "<rect x=\"\(left)\" y=\"\(plotTop)\" width=\"\(right - left)\" height=\"\(bottom - plotTop)\" fill=\"none\" stroke=\"#999\"/>\n"
        for tick in yTicks {
            let label = logarithmic ? String(format: "%g", pow(10, tick)) : String(format: "%g", tick)
            svg += "<line x1=\"\(left)\" y1=\"\(tickY(tick))\" x2=\"\(right)\" y2=\"\(tickY(tick))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(tickY(tick) + 4)\" text-anchor=\"end\">\(label)</text>\n"
        }
        if logarithmic {
            svg += "<text x=\"\(right)\" y=\"\(top + 12)\" text-anchor=\"end\" fill=\"#777\">logarithmic axis</text>\n"
        }
        for x in xTicks {
            svg += "<text x=\"\(sx(x))\" y=\"\(bottom + 16)\" text-anchor=\"middle\">\(String(format: "%g", x))</text>\n"
        }
        svg += "<text x=\"\((left + right) / 2)\" y=\"\(bottom + 32)\" text-anchor=\"middle\">epoch</text>\n"
        for (index, name) in series.keys.sorted().enumerated() {
            let color = palette[index % palette.count]
            let values = series[name]!.sorted { $0.x < $1.x }
            let path = values.map { "\(String(format: "%.2f", sx($0.x))),\(String(format: "%.2f", sy($0.y)))" }.joined(separator: " ")
            let thin = name.contains("per iteration")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(thin ? 1 : 2)\" opacity=\"\(thin ? 0.6 : 1)\" points=\"\(path)\"/>\n"
            if !thin {
                for point in values { svg += "<circle cx=\"\(sx(point.x))\" cy=\"\(sy(point.y))\" r=\"3\" fill=\"\(color)\"/>\n" }
            }
            let legendY = plotTop + 10 + Double(index) * 18
            svg += "<line x1=\"\(right + 15)\" y1=\"\(legendY)\" x2=\"\(right + 35)\" y2=\"\(legendY)\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(right + 40)\" y=\"\(legendY + 4)\">\(escape(name))</text>\n"
        }
        return svg + "</g>\n"
    }
}
