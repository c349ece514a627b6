// Training: work in progress.
