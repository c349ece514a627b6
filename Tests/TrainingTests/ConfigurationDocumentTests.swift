import Testing
import Training

/// A configuration file is a small flat mapping of single values; anything a general YAML reader would expand is
/// refused at its first mark, and values keep the text the user typed.
@Suite("Configuration files")
struct ConfigurationDocumentTests {
    func entries(_ text: String) throws -> [ConfigurationEntry] {
        try ConfigurationDocument.entries(in: Array(text.utf8))
    }

    func refusal(_ text: String) -> String? {
        do {
            _ = try entries(text)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("block and flow (JSON) forms read to the same entries, with quoting and comments")
    func forms() throws {
        let block = try entries("---\n# a run\nepochs: 3   # three\nmodel: \"mlp:16,8\"\nlabel-column: 'it''s'\n...\n")
        #expect(block.map(\.key) == ["epochs", "model", "label-column"])
        #expect(block.map(\.text) == ["3", "mlp:16,8", "it's"])
        #expect(block.map(\.isQuoted) == [false, true, true])
        #expect(block.map(\.line) == [3, 4, 5])
        let flow = try entries("{\"epochs\": 3,\n \"model\": \"mlp:16,8\", label-column: \"it\\u0027s\"}")
        #expect(flow.map(\.text) == block.map(\.text))
        #expect(try entries("").isEmpty && entries("{}").isEmpty)
    }

    @Test("Windows line ends end lines: comments, values and trailing comments read as with Unix ones")
    func windowsLineEnds() throws {
        let unix = try entries("# my config\nepochs: 2 # two\nlr: 0.5\nmodel: mlp:8\n")
        let windows = try entries("# my config\r\nepochs: 2 # two\r\nlr: 0.5\r\nmodel: mlp:8\r\n")
        #expect(windows == unix && windows.map(\.text) == ["2", "0.5", "mlp:8"])
        #expect(try entries("{\"epochs\": 2,\r\n \"lr\": 0.5}\r\n").map(\.text) == ["2", "0.5"])
    }

    @Test(
        "nesting, lists, anchors, aliases, merge keys, tags, complex keys and block scalars are refused at once",
        arguments: [
            "a:\n  b: 1\n", "a: [1, 2]\n", "- 1\n", "? [a, b]\n: 1\n", "a: &x 1\n", "a: *x\n", "<<: *x\n",
            "a: !!str 1\n", "a: |\n  text\n", "{a: {b: 1}}", "{a: [1]}", "a: b: c\n"
        ])
    func structuresRefused(text: String) {
        #expect(refusal(text) != nil, "accepted: \(text)")
    }

    @Test("a file nested 10,000 deep, a billion-laughs file and an oversized file end quickly with an error")
    func bombs() {
        #expect(refusal(String(repeating: "{", count: 10_000) + String(repeating: "}", count: 10_000))?.contains("nested mapping") == true)
        #expect(refusal(String(repeating: "[", count: 10_000))?.contains("list") == true)
        let laughs = "a: &a [lol, lol]\n" + (1..<10).map { "\(Character(Unicode.Scalar(97 + $0)!)): &\($0) [*a, *a]\n" }.joined()
        #expect(refusal(laughs)?.contains("anchor") == true)
        #expect(refusal(String(repeating: "a", count: ConfigurationDocument.maximumBytes + 1))?.contains("at most") == true)
        #expect(refusal("a: 1\u{0}") == "the configuration file is not UTF-8 text")
    }

    @Test("a key given twice is refused, naming both lines")
    func duplicates() {
        #expect(refusal("epochs: 3\nlr: 0.1\nepochs: 4\n") == "line 3: 'epochs' is given twice (first on line 1); give each option once")
        #expect(refusal("{\"a\": 1, \"a\": 2}")?.contains("given twice") == true)
    }

    @Test("values are classified as YAML readers would read them, so ambiguous ones can be refused")
    func readings() throws {
        func reading(_ value: String) throws -> ConfigurationEntry.Reading { try entries("k: \(value)")[0].reading }
        for value in ["10", "-3", "0"] { #expect(try reading(value) == .decimalInteger, "\(value)") }
        for value in ["0.01", "1e-3", "-2.5E+4", ".5"] { #expect(try reading(value) == .decimalNumber, "\(value)") }
        for value in ["010", "0o10", "0x10", "1_0", "1:30", "+5", ".inf", "-.inf", ".NaN", "00.5"] {
            #expect(try reading(value) == .ambiguousNumber, "\(value)")
        }
        for value in ["no", "yes", "On", "OFF", "y", "N", "True", "FALSE"] { #expect(try reading(value) == .booleanWord, "\(value)") }
        #expect(try reading("true") == .boolean(true) && reading("false") == .boolean(false))
        #expect(try reading("~") == .null && reading("null") == .null)
        for value in ["mlp:128,128", "csv:data/x.csv", "\"no\"", "'1e3'", "warmup:100"] { #expect(try reading(value) == .text, "\(value)") }
    }
}
