import EngineCore
import Foundation
import TestSupport
import Testing
import Training

@Suite("The checkpoint file: safetensors with verified metadata")
struct CheckpointFormatTests {
    static let tree: StateDict = [
        "model": .dictionary([
            "0.weight": .tensor(shape: [2, 3], values: [1, -2, 3.5, 0, .pi, -0.0]),
            "0.bias": .tensor(shape: [2], values: [0.25, -1e-30])
        ]),
        "trainer": .dictionary([
            "iteration": .int(42), "epoch_length": .int(7), "max_epochs": .int(3),
            "seed": .uint64(.max), "alpha": .double(0.1)
        ]),
        "extra": .dictionary([
            "doubles": .array([
                .double(1e-300), .double(-0.0), .double(.pi), .double(.infinity),
                .double(123456789.123456789)
            ]),
            "text": .string("quote \" backslash \\ newline \n unicode é"), "flag": .bool(true), "none": .null,
            "nested": .dictionary(["deep": .array([.int(-5), .tensor(shape: [1], values: [9])])])
        ])
    ]

    @Test("a state tree round-trips exactly: tensors, nested values, integers, doubles bit for bit")
    func roundTrip() throws {
        let bytes = CheckpointFile.encode(Self.tree)
        let decoded = try CheckpointFile.decode(bytes, source: "memory")
        #expect(decoded == Self.tree)
        guard case .dictionary(let extra)? = decoded["extra"], case .array(let doubles)? = extra["doubles"],
            case .double(let negativeZero) = doubles[1]
        else {
            Issue.record("structure lost")
            return
        }
        #expect(negativeZero.sign == .minus)
        #expect(bytes.count % 4 == 0)
    }

    /// An independent reader of the safetensors layout, written from the format's description.
    static func readSafetensors(_ bytes: [UInt8]) throws -> (header: [String: Any], tensors: [String: [Float]]) {
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as! [String: Any]
        var tensors: [String: [Float]] = [:]
        for (name, value) in header where name != "__metadata__" {
            let entry = value as! [String: Any]
            let offsets = entry["data_offsets"] as! [Int]
            let data = Array(bytes[(8 + length + offsets[0])..<(8 + length + offsets[1])])
            tensors[name] = stride(from: 0, to: data.count, by: 4).map { i in
                Float(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24)
            }
        }
        return (header, tensors)
    }

    @Test("an independent reader finds every tensor under its dotted path, metadata as strings, no trailing bytes")
    func independentReader() throws {
        let bytes = CheckpointFile.encode(Self.tree)
        let (header, tensors) = try Self.readSafetensors(bytes)
        #expect(tensors["model.0.weight"] == [1, -2, 3.5, 0, .pi, -0.0])
        #expect(tensors["extra.nested.deep.1"] == [9])
        let metadata = try #require(header["__metadata__"] as? [String: String])
        #expect(metadata["format"] == "swift-train-checkpoint" && metadata["format_version"] == "1")
        #expect(metadata["sha256"]?.count == 64 && metadata["state"] != nil)
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(length % 8 == 0)
        let end = (header.values.compactMap { ($0 as? [String: Any])?["data_offsets"] as? [Int] }.map { $0[1] }.max() ?? 0)
        #expect(8 + length + end == bytes.count)
    }

    @Test(
        "Python's safetensors reads the weights",
        .enabled(if: TestPython.imports("safetensors"), "skipped: Python's safetensors is not installed (launch/test installs it)"))
    func python() throws {
        let directory = try ProcessRunner.makeTemporaryDirectory("python")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("c.safetensors")
        try Data(CheckpointFile.encode(Self.tree)).write(to: file)
        let script = "from safetensors.numpy import load_file; t = load_file('\(file.path)'); print(t['model.0.weight'].tolist())"
        let result = try ProcessRunner.run("/usr/bin/env", [TestPython.path, "-c", script], timeout: 60)
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("[[1.0, -2.0, 3.5], [0.0, 3.14159"))
    }

    struct Corruption: CustomTestStringConvertible, Sendable {
        let name: String
        let apply: @Sendable ([UInt8]) -> [UInt8]
        let message: String
        var testDescription: String { name }
    }

    @Test(
        "truncated, bit-flipped and foreign files each give a clear error",
        arguments: [
            Corruption(name: "truncated data", apply: { Array($0.dropLast(10)) }, message: "truncated checkpoint"),
            Corruption(name: "truncated header", apply: { Array($0.prefix(20)) }, message: "truncated checkpoint"),
            Corruption(
                name: "bit flipped in tensor data",
                apply: {
                    var b = $0
                    b[b.count - 5] ^= 0x10
                    return b
                }, message: "checksum mismatch"),
            Corruption(
                name: "bit flipped in the state",
                apply: { bytes in
                    var b = bytes
                    let text = String(decoding: b, as: UTF8.self)
                    let range = text.range(of: "iteration\\\":42")!
                    let offset = text.utf8.distance(from: text.startIndex, to: range.upperBound) - 1
                    b[offset] ^= 0x01
                    return b
                }, message: "checksum mismatch"),
            Corruption(name: "empty file", apply: { _ in [] }, message: "truncated"),
            Corruption(
                name: "plain safetensors of someone else",
                apply: { _ in
                    let header = Array("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}".utf8)
                    let padded = header + [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
                    return (0..<8).map { UInt8((padded.count >> (8 * $0)) & 0xff) } + padded + [0, 0, 128, 63]
                }, message: "not a swift-train checkpoint")
        ])
    func corrupted(_ corruption: Corruption) throws {
        let bytes = corruption.apply(CheckpointFile.encode(Self.tree))
        do {
            _ = try CheckpointFile.decode(bytes, source: "ckpt.safetensors")
            Issue.record("a corrupted file was accepted")
        } catch let error as CheckpointError {
            #expect(error.description.contains(corruption.message), "\(error)")
            #expect(error.description.hasPrefix("ckpt.safetensors"))
        }
    }
}
