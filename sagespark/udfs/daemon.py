"""Spark's Python daemon with sagespark's worker-side modules imported before it forks.

Spark starts one daemon per executor (``python -m pyspark.daemon``) and forks a worker
from it for each Python task slot; a worker that raised (an invalid-input error, say) or
was killed is replaced by a new fork. Each fork of the stock daemon imports numpy,
pyarrow, numba and sagespark's kernels again (about 1 s on one core). With
``spark.python.daemon.module=sagespark.udfs.daemon`` the daemon imports them once and
every fork inherits them. The imports start no Python threads; OpenBLAS's native threads
are stopped and restarted around fork by OpenBLAS itself.
"""

from __future__ import annotations

import importlib

WORKER_MODULES = (
    "sagespark.udfs.fold",
    "sagespark.udfs.score",
    "sagespark.udfs.sample",
    "sagespark.streaming",
    "sagespark.kernels.kmeans",
    "sagespark.kernels.linear",
    "sagespark.kernels.fm",
    "sagespark.kernels.knn",
)


def preload() -> None:
    for name in WORKER_MODULES:
        importlib.import_module(name)


if __name__ == "__main__":
    preload()
    from pyspark.daemon import manager

    manager()
