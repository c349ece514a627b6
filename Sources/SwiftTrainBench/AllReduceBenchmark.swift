import CMPI
import Cluster
import Foundation
import NeuralNet
import Training

/// B4 worker, under mpirun: the framework's gradient synchronisation of the B3 model's buffer (669,706
/// floats: `GradientReducer.synchronize`, one MPI call) against a bare `MPI_Allreduce` of the same
/// buffer, alternated, medians of the per-call times. Rank 0 prints `result framework_us=X mpi_us=Y`.
func runAllReduceWorker(arguments: [String]) throws {
    let communicator = try MPICommunicator.initialize()
    let model = try Sequential.multilayerPerceptron(inputs: 784, hidden: [512, 512], outputs: 10, seed: 0)
    let arena = model.arena
    // Attached to a supervised trainer, as in training: the averaging is folded into the loss gradient.
    let trainer = makeSupervisedTrainer(
        model: model, optimizer: SGD(arena: arena, learningRate: 0.05),
        loss: SoftmaxCrossEntropy())
    let reducer = try DataParallel(communicator: communicator).attach(to: trainer, arena: arena)
    let repeats = arguments.firstIndex(of: "--repeats").flatMap { Int(arguments[$0 + 1]) } ?? 60
    var framework: [Double] = []
    var bare: [Double] = []
    for index in 0..<(repeats + 5) {
        arena.withUnsafeMutableBuffers { _, gradients in
            for slot in gradients.indices { gradients[slot] = Float(slot % 13) * 1e-3 }
        }
        try communicator.barrier()
        var start = monotonicSeconds()
        try reducer.synchronize()
        let frameworkTime = monotonicSeconds() - start
        try communicator.barrier()
        start = monotonicSeconds()
        let code = arena.withUnsafeMutableBuffers { _, gradients in
            MPI_Allreduce(cmpi_in_place(), gradients.baseAddress, Int32(arena.count), cmpi_float(), cmpi_op_sum(), cmpi_comm_world())
        }
        let bareTime = monotonicSeconds() - start
        guard code == MPI_SUCCESS else { throw BenchmarkError("MPI_Allreduce failed with \(code)") }
        if index >= 5 {
            framework.append(frameworkTime)
            bare.append(bareTime)
        }
    }
    let times = [median(framework) * 1e6, median(bare) * 1e6]
    if communicator.rank == 0 {
        print("result framework_us=\(format(times[0], 1)) mpi_us=\(format(times[1], 1)) floats=\(arena.count)")
    }
    communicator.finalize()
}
