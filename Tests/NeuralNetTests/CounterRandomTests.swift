import NeuralNet
import Testing

@Suite("The counter-based generator")
struct CounterRandomTests {
    @Test("any draw is reproducible from (seed, stream, counter) without replaying earlier ones")
    func reproducible() {
        var sequential = CounterRandom(seed: 7, stream: 3)
        let draws = (0..<100).map { _ in sequential.next() }
        let direct = CounterRandom(seed: 7, stream: 3, counter: 57)
        #expect(direct.value(at: 57) == draws[57])
        var resumed = CounterRandom(seed: 7, stream: 3, counter: 90)
        #expect((0..<10).map { _ in resumed.next() } == Array(draws[90..<100]))
        var other = CounterRandom(seed: 7, stream: 4)
        #expect((0..<100).map { _ in other.next() } != draws)
        #expect(CounterRandom(seed: 8, stream: 3).value(at: 0) != draws[0])
    }

    @Test("the same bits on every run and machine: fixed known values")
    func knownValues() {
        // SplitMix64's finaliser is a published bijection: mix(0) == 0 and mix(1) is fixed.
        #expect(CounterRandom.mix(0) == 0)
        #expect(CounterRandom.mix(1) == 0x5692_161D_100B_05E5)
        let streamA = CounterRandom.streamKey(purpose: "sampler", 3)
        let streamB = CounterRandom.streamKey(purpose: "sampler", 3)
        #expect(streamA == streamB && streamA != CounterRandom.streamKey(purpose: "sampler", 4))
    }

    @Test("uniform values have the right mean and variance; normals too; Bernoulli its rate")
    func distributions() {
        var random = CounterRandom(seed: 1, stream: 1)
        let uniforms = (0..<100_000).map { _ in Double(random.nextUniform()) }
        let mean = uniforms.reduce(0, +) / 100_000
        let variance = uniforms.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 100_000
        #expect(abs(mean - 0.5) < 0.01 && abs(variance - 1.0 / 12) < 0.003)
        #expect(uniforms.allSatisfy { $0 >= 0 && $0 < 1 })
        let normals = (0..<100_000).map { _ in Double(random.nextNormal()) }
        let normalMean = normals.reduce(0, +) / 100_000
        let normalVariance = normals.reduce(0) { $0 + ($1 - normalMean) * ($1 - normalMean) } / 100_000
        #expect(abs(normalMean) < 0.02 && abs(normalVariance - 1) < 0.03)
        let hits = (0..<100_000).filter { _ in random.nextBernoulli(probability: 0.3) }.count
        #expect(abs(Double(hits) / 100_000 - 0.3) < 0.01)
    }

    @Test("a permutation is a permutation, seeded, and different per stream")
    func permutation() {
        let a = CounterRandom.permutation(count: 1000, seed: 5, stream: 1)
        #expect(a.sorted() == Array(0..<1000))
        #expect(a == CounterRandom.permutation(count: 1000, seed: 5, stream: 1))
        #expect(a != CounterRandom.permutation(count: 1000, seed: 5, stream: 2))
        #expect(a != Array(0..<1000))
        #expect(CounterRandom.permutation(count: 0, seed: 1, stream: 1).isEmpty)
    }
}
