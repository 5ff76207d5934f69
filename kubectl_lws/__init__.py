"""kubectl-lws: a kubectl plugin for LeaderWorkerSet workloads."""

__version__ = "0.1.0"
