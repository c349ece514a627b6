import EngineCore
import Training
import Foundation

/// Draws a run's JSON-lines log (`--log`) as an SVG: loss curves (per-iteration loss, epoch train and test
/// loss) and metric curves (accuracy-like values) against epochs.
public enum TrainingReport {
    /// A log that cannot be drawn.
    public enum ReportError: Error, Equatable, CustomStringConvertible {
        case unreadable(path: String)
        case malformed(line: Int, reason: String)
        case empty

        public var description: String {
            switch self {
            case .unreadable(let path): "\(path): cannot read the log"
            case .malformed(let line, let reason): "log line \(line): \(reason)"
            case .empty: "the log has no entries to draw"
            }
        }
    }

    struct Point { let x: Double; let y: Double }

    /// Reads the log at `logAt` and writes the SVG to `to`.
    public static func render(logAt source: URL, to destination: URL) throws {
        guard let text = try? String(contentsOf: source, encoding: .utf8) else { throw ReportError.unreadable(path: source.path) }
        let svg = try renderSVG(logLines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        do { try svg.write(to: destination, atomically: true, encoding: .utf8) } catch {
            throw ReportError.unreadable(path: destination.path)
        }
    }

    /// The SVG for the lines of a log.
    public static func renderSVG(logLines: [String]) throws -> String {
        var series: [String: [Point]] = [:]
        var iterationsPerEpoch: Double?
        var worldSize = 1
        var entries: [(event: String, epoch: Int, iteration: Int, metrics: StateDict)] = []
        for (index, line) in logLines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let parsed: StateValue
            do { parsed = try StateValue(json: line) } catch {
                throw ReportError.malformed(line: index + 1, reason: "\(error)")
            }
            guard case .dictionary(let entry) = parsed, case .string(let event)? = entry["event"],
                  case .int(let epoch)? = entry["epoch"], case .int(let iteration)? = entry["iteration"] else {
                throw ReportError.malformed(line: index + 1, reason: "needs event, epoch and iteration")
            }
            if case .int(let size)? = entry["world_size"] { worldSize = size }
            var metrics: StateDict = [:]
            if case .dictionary(let values)? = entry["metrics"] { metrics = values }
            entries.append((event, epoch, iteration, metrics))
            if event == "epoch_completed", epoch > 0, iterationsPerEpoch == nil { iterationsPerEpoch = Double(iteration) / Double(epoch) }
        }
        guard !entries.isEmpty else { throw ReportError.empty }
        let perEpoch = iterationsPerEpoch ?? Double(entries.map(\.iteration).max() ?? 1)
        for entry in entries {
            let x = entry.event == "epoch_completed" ? Double(entry.epoch) : Double(entry.iteration) / Swift.max(perEpoch, 1)
            for (name, value) in entry.metrics {
                let number: Double
                switch value {
                case .double(let v): number = v
                case .int(let v): number = Double(v)
                default: continue
                }
                guard number.isFinite else { continue }
                let key = entry.event == "epoch_completed" ? name : "\(name) (per iteration)"
                series[key, default: []].append(Point(x: x, y: number))
            }
        }
        let lossSeries = series.filter { $0.key.contains("loss") }
        let metricSeries = series.filter { !$0.key.contains("loss") }
        var final: [String] = []
        for name in ["test_accuracy", "test_loss", "train_loss"] {
            if let last = series[name]?.last { final.append(String(format: "%@ %.4f", name, last.y)) }
        }
        let width = 900.0, panelHeight = 300.0
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(2 * panelHeight + 90))" \
        viewBox="0 0 \(Int(width)) \(Int(2 * panelHeight + 90))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="24" text-anchor="middle" font-size="16" font-weight="bold">\
        swift-train run: world size \(worldSize)\(final.isEmpty ? "" : ", final " + final.joined(separator: ", "))</text>

        """
        svg += panel(title: "Loss", series: lossSeries, top: 40, width: width, height: panelHeight, unitRange: false)
        svg += panel(title: "Metrics", series: metricSeries, top: 60 + panelHeight, width: width, height: panelHeight,
                     unitRange: true)
        return svg + "</svg>\n"
    }

    /// Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten, about `count` of them.
    static func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
        let span = Swift.max(high - low, 1e-12)
        let raw = span / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = floor(low / step) * step, last = ceil(high / step) * step
        return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    static func panel(title: String, series: [String: [Point]], top: Double, width: Double, height: Double,
                      unitRange: Bool) -> String {
        let left = 70.0, right = width - 220, bottom = top + height - 40
        let points = series.values.flatMap { $0 }
        var svg = "<g>\n<text x=\"\(left)\" y=\"\(top + 12)\" font-weight=\"bold\">\(title)</text>\n"
        guard !points.isEmpty else {
            return svg + "<text x=\"\(left)\" y=\"\(top + 40)\" fill=\"#777\">no values logged</text>\n</g>\n"
        }
        var yMin = points.map(\.y).min()!, yMax = points.map(\.y).max()!
        if unitRange && yMin >= 0 && yMax <= 1 { (yMin, yMax) = (0, 1) }
        if yMax - yMin < 1e-9 { (yMin, yMax) = (yMin - 0.5, yMax + 0.5) }
        let xTicks = niceTicks(0, Swift.max(points.map(\.x).max()!, 1e-9)), yTicks = niceTicks(yMin, yMax)
        let xMin = xTicks.first!, xMax = xTicks.last!
        (yMin, yMax) = (yTicks.first!, yTicks.last!)
        let plotTop = top + 25
        func sx(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (right - left) }
        func sy(_ y: Double) -> Double { bottom - (y - yMin) / (yMax - yMin) * (bottom - plotTop) }
        svg += "<rect x=\"\(left)\" y=\"\(plotTop)\" width=\"\(right - left)\" height=\"\(bottom - plotTop)\" fill=\"none\" stroke=\"#999\"/>\n"
        for y in yTicks {
            svg += "<line x1=\"\(left)\" y1=\"\(sy(y))\" x2=\"\(right)\" y2=\"\(sy(y))\" stroke=\"#eee\"/>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(sy(y) + 4)\" text-anchor=\"end\">\(String(format: "%g", y))</text>\n"
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
            svg += "<text x=\"\(right + 40)\" y=\"\(legendY + 4)\">\(name)</text>\n"
        }
        return svg + "</g>\n"
    }
}
