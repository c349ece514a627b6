import Foundation
import NeuralNet
import TestSupport
import Testing
import Training

@Suite("Data sets: CSV, IDX, the built-in glyphs, splits and statistics")
struct DatasetTests {
    func write(_ text: String, _ name: String = "data.csv") throws -> (URL, URL) {
        let directory = try ProcessRunner.makeTemporaryDirectory("data")
        let file = directory.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return (directory, file)
    }

    @Test("digits.csv loads: 1797 rows, 64 features, 10 classes, the first row as in the file")
    func digits() throws {
        let data = try CSVDataset.load(
            path: ProcessRunner.sharedDirectory.appendingPathComponent("data/digits.csv").path,
            labelColumn: .named("label"))
        #expect(data.count == 1797 && data.featureCount == 64 && data.classCount == 10)
        #expect(Array(data.features[0..<8]) == [0, 0, 5, 13, 9, 1, 0, 0])
        #expect(data.labels[0] == 0 && data.labels[1] == 1)
    }

    @Test("with or without a header, quoted fields, text labels in lexical order, a named label column")
    func formats() throws {
        let (d1, plain) = try write("1,2,b\n3,4,a\n\n5,6,b\n")
        defer { try? FileManager.default.removeItem(at: d1) }
        let noHeader = try CSVDataset.load(path: plain.path)
        #expect(noHeader.count == 3 && noHeader.classNames == ["a", "b"] && noHeader.labels == [1, 0, 1])
        let (d2, headed) = try write("kind,\"x, quoted\",y\ncat,1.5,2\ndog,-3,4e2\n")
        defer { try? FileManager.default.removeItem(at: d2) }
        let named = try CSVDataset.load(path: headed.path, labelColumn: .named("kind"))
        #expect(named.features == [1.5, 2, -3, 400] && named.classNames == ["cat", "dog"])
        let (d3, numeric) = try write("a,b,label\n1,1,10\n2,2,9\n3,3,100\n")
        defer { try? FileManager.default.removeItem(at: d3) }
        #expect(try CSVDataset.load(path: numeric.path).classNames == ["9", "10", "100"])
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        let text: String, label: LabelColumn, message: String
        var testDescription: String { message }
    }

    @Test(
        "bad CSV files are refused with the file, line and column",
        arguments: [
            Bad(text: "a,b,l\n1,2,x\n3,oops,y\n", label: .last, message: "line 3, column 2: 'oops' is not a finite number"),
            Bad(text: "a,b,l\n1,inf,x\n", label: .last, message: "line 2, column 2: 'inf'"),
            Bad(text: "a,b,l\n1,nan,x\n", label: .last, message: "line 2, column 2: 'nan'"),
            Bad(text: "a,b,l\n1,2,x\n3,y\n", label: .last, message: "line 3 has 2 fields, expected 3"),
            Bad(text: "\n\n", label: .last, message: "empty file"),
            Bad(text: "a,b,l\n", label: .last, message: "empty file"),
            Bad(text: "a,b,l\n1,2,3\n", label: .named("target"), message: "no column named 'target'")
        ])
    func badCSV(_ bad: Bad) throws {
        let (directory, file) = try write(bad.text)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            _ = try CSVDataset.load(path: file.path, labelColumn: bad.label)
            Issue.record("accepted a bad file")
        } catch let error as DatasetError {
            #expect(error.description.contains(bad.message), "\(error)")
            #expect(error.description.hasPrefix(file.path))
        }
        #expect(throws: DatasetError.unreadable(path: "/nonexistent.csv", reason: "no such file")) {
            try CSVDataset.load(path: "/nonexistent.csv")
        }
    }

    func idx(magic: UInt32, dimensions: [UInt32], payload: [UInt8]) -> Data {
        var data = Data()
        for word in [magic] + dimensions { withUnsafeBytes(of: word.bigEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: payload)
        return data
    }

    @Test("IDX files load plain or gzipped; magic numbers, counts and lengths are checked")
    func idxFiles() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("idx")
        defer { try? FileManager.default.removeItem(at: directory) }
        let images = (0..<(3 * 2 * 2)).map { UInt8($0 * 20) }
        try idx(magic: 2051, dimensions: [3, 2, 2], payload: images).write(to: directory.appendingPathComponent("train-images-idx3-ubyte"))
        try idx(magic: 2049, dimensions: [3], payload: [7, 0, 9]).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        let plain = try IDXDataset.load(directory: directory.path, split: .train)
        #expect(plain.count == 3 && plain.sampleShape == [1, 2, 2] && plain.labels == [7, 0, 9])
        #expect(plain.features[1] == Float(20) / 255)
        #expect(try ProcessRunner.run("gzip", [directory.appendingPathComponent("train-images-idx3-ubyte").path]).exitCode == 0)
        #expect(try IDXDataset.load(directory: directory.path, split: .train) == plain)
        try idx(magic: 2049, dimensions: [4], payload: [1, 2, 3, 4]).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        #expect(throws: DatasetError.self) { try IDXDataset.load(directory: directory.path, split: .train) }
        try idx(magic: 2052, dimensions: [3], payload: [1, 2, 3]).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        do { _ = try IDXDataset.load(directory: directory.path, split: .train) } catch {
            #expect("\(error)".contains("magic number 2052, expected 2049"))
        }
        try idx(magic: 2049, dimensions: [3], payload: [1]).write(to: directory.appendingPathComponent("train-labels-idx1-ubyte"))
        do { _ = try IDXDataset.load(directory: directory.path, split: .train) } catch { #expect("\(error)".contains("truncated")) }
        #expect(throws: DatasetError.self) { try IDXDataset.load(directory: directory.path, split: .test) }
    }

    @Test("the built-in glyphs are deterministic per seed, learnable and not trivial")
    func glyphs() throws {
        var a = SeededGenerator(seed: 1)
        var b = SeededGenerator(seed: 1)
        var c = SeededGenerator(seed: 2)
        let first = GlyphDataset.generate(count: 400, using: &a)
        #expect(first == GlyphDataset.generate(count: 400, using: &b))
        #expect(first != GlyphDataset.generate(count: 400, using: &c))
        #expect(first.sampleShape == [1, 16, 16] && first.classCount == 10)
        #expect(first.features.allSatisfy { $0 >= 0 && $0 <= 1 })
        // Nearest class centroid, fitted on the first half, scored on the second.
        var centroids = [[Float]](repeating: [Float](repeating: 0, count: 256), count: 10)
        var counts = [Float](repeating: 0, count: 10)
        for row in 0..<200 {
            let label = Int(first.labels[row])
            counts[label] += 1
            for column in 0..<256 { centroids[label][column] += first.features[row * 256 + column] }
        }
        var correct = 0
        for row in 200..<400 {
            let sample = first.features[(row * 256)..<((row + 1) * 256)]
            let distances = (0..<10).map { label in
                zip(sample, centroids[label]).reduce(Float(0)) { $0 + ($1.0 - $1.1 / counts[label]) * ($1.0 - $1.1 / counts[label]) }
            }
            if distances.indices.min(by: { distances[$0] < distances[$1] }) == Int(first.labels[row]) { correct += 1 }
        }
        #expect(correct >= 120, "nearest-centroid accuracy \(correct) / 200")
        #expect(correct < 200, "noise and jitter keep it from being trivial")
    }

    @Test("splits are seeded and disjoint; statistics standardise; a constant feature is only centred; copyBatch gathers")
    func splitsAndStatistics() throws {
        let data = Dataset(
            features: (0..<20).flatMap { [Float($0), 5] }, featureCount: 2, labels: (0..<20).map { Int32($0 % 2) },
            classNames: ["a", "b"])
        var g1 = SeededGenerator(seed: 3)
        var g2 = SeededGenerator(seed: 3)
        let (train, test) = data.split(testFraction: 0.25, using: &g1)
        #expect(train.count == 15 && test.count == 5)
        #expect(data.split(testFraction: 0.25, using: &g2).test == test)
        #expect(
            Set(train.features.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
                .isDisjoint(with: test.features.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)))
        let statistics = FeatureStatistics(data)
        #expect(statistics.mean == [9.5, 5])
        #expect(abs(Double(statistics.standardDeviation[0]) - (399.0 / 12).squareRoot()) < 1e-5)
        #expect(statistics.standardDeviation[1] == 1)
        var normalised = data
        statistics.apply(to: &normalised)
        #expect(abs(normalised.features[0] + 9.5 / statistics.standardDeviation[0]) < 1e-6 && normalised.features[1] == 0)
        let (inputs, targets) = data.batch([7, 2])
        #expect(inputs == Tensor(shape: [2, 2], values: [7, 5, 2, 5]) && targets == Tensor(shape: [2], values: [1, 0]))
    }
}

@Suite("Table layouts and class mapping")
struct TableLayoutTests {
    @Test("features are rearranged by name; missing, extra and repeated columns are named")
    func arranged() throws {
        var data = Dataset(features: [1, 2, 3, 4, 5, 6], featureCount: 3, labels: [0, 1], classNames: ["a", "b"])
        data.layout = TableLayout(featureNames: ["z", "x", "y"], labelName: "label")
        let model = TableLayout(featureNames: ["x", "y", "z"], labelName: "label")
        let arranged = try data.arranged(as: model, path: "f.csv")
        #expect(arranged.features == [2, 3, 1, 5, 6, 4])
        #expect(throws: DatasetError.columnMismatch(path: "f.csv", missing: ["w"], unexpected: ["z"])) {
            try data.arranged(as: TableLayout(featureNames: ["x", "y", "w"], labelName: "label"), path: "f.csv")
        }
        #expect(throws: DatasetError.duplicateColumn(path: "f.csv", name: "x")) {
            try model.columns(in: ["x", "x", "y", "z"], path: "f.csv", dropping: nil)
        }
        data.layout = nil
        #expect(throws: DatasetError.missingHeader(path: "f.csv", columns: ["x", "y", "z", "label"])) {
            try data.arranged(as: model, path: "f.csv")
        }
    }

    @Test("labels are numbered by the model's classes (same text or same number); unknown labels are listed")
    func relabeled() throws {
        let data = Dataset(features: [0, 0, 0], featureCount: 1, labels: [0, 1, 0], classNames: ["2.0", "3"])
        #expect(try data.relabeled(toClasses: ["1", "2", "3"], path: "t.csv").labels == [1, 2, 1])
        #expect(throws: DatasetError.unknownClasses(path: "t.csv", labels: ["3"], known: ["1", "2"])) {
            try data.relabeled(toClasses: ["1", "2"], path: "t.csv")
        }
    }
}

@Suite("CSV reading paths")
struct CSVReadingPathTests {
    @Test("rows read on their bytes give exactly what the general (quoted) path gives: values, labels, classes")
    func fastPathMatchesGeneralPath() throws {
        var generator = SystemRandomNumberGenerator()
        let formats = ["%.5f", "%g", "%e", "% .3f", "%.9g"]
        var plain = "a, b ,c,label\r\n"
        var quoted = "\"a\",\" b \",\"c\",\"label\"\r\n"
        for row in 0..<500 {
            let values = (0..<3).map { _ in
                String(format: formats.randomElement(using: &generator)!, Double.random(in: -1e4...1e4, using: &generator))
            }
            let label = ["cat", "dog", " 7 ", "1.0"][row % 4]
            plain += values.joined(separator: ",") + "," + label + (row % 2 == 0 ? "\r\n" : "\n")
            quoted += values.map { "\"\($0)\"" }.joined(separator: ",") + ",\"" + label + "\"\n"
            if row % 97 == 0 { plain += "  \n" }
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("csv-paths-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fast = directory.appendingPathComponent("plain.csv")
        let general = directory.appendingPathComponent("quoted.csv")
        try plain.write(to: fast, atomically: true, encoding: .utf8)
        try quoted.write(to: general, atomically: true, encoding: .utf8)
        let a = try CSVDataset.load(path: fast.path)
        let b = try CSVDataset.load(path: general.path)
        #expect(a.features == b.features && a.labels == b.labels && a.classNames == b.classNames)
        #expect(a.count == 500 && a.layout == b.layout)
    }
}
