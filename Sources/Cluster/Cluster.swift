// Cluster: work in progress.
