import Cluster
import Foundation

/// What the process can tell about its cluster before MPI starts: whether mpirun launched it, and its rank.
public enum ClusterEnvironment {
    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Whether the process was started by mpirun (`MPICommunicator.isLaunchedByMPI`).
    public static var isLaunchedByMPI: Bool { MPICommunicator.isLaunchedByMPI }

    /// This process's rank as mpirun announced it (0 when not under mpirun).
    public static var rank: Int {
        Int(environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"] ?? "0") ?? 0
    }

    /// The world size mpirun announced (1 when not under mpirun).
    public static var size: Int { Int(environment["OMPI_COMM_WORLD_SIZE"] ?? "1") ?? 1 }

    /// Ranks on this host, as mpirun (or Slurm's srun: `2(x3)` means 2 on each of 3 nodes) announced them.
    public static var localSize: Int {
        if let size = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap({ Int($0) }) { return size }
        if let tasks = environment["SLURM_STEP_TASKS_PER_NODE"], let size = Int(tasks.prefix { $0.isNumber }) { return size }
        return 1
    }
}
