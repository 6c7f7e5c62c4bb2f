"""Spark's Python daemon, with workers that start ready.

Spark starts one daemon per executor (``python -m pyspark.daemon``) and forks a worker
from it for each Python task slot; a worker that raised (an invalid-input error, say) or
was killed is replaced by a new fork. With
``spark.python.daemon.module=sagespark.udfs.daemon`` two costs go away:

- Each fork of the stock daemon imports numpy, pyarrow, numba, sagespark's states and
  kernels when it unpickles a stage's fold or scoring function, and its first numba
  call starts numba's compiler. This daemon does all that
  once and every fork inherits it. (With the zip re-reads below, a fresh worker started
  1.9 s later under pyspark's daemon: benchmarks/worker_overhead.py, 2 cores.)
  None of it starts Python threads (the kernels are not ``parallel=True``); OpenBLAS's
  native threads are stopped and restarted around fork by OpenBLAS itself.
- A fresh worker's first task adds the SparkFiles directory to sys.path, and pyspark
  then calls ``importlib.invalidate_caches()``. On Python 3.10-3.12 that makes every
  ``zipimporter`` re-read its archive's whole directory, and a fork of this daemon holds
  one per package it imported from pyspark.zip, py4j's zip and spark-core's jar (Spark
  puts the jar on the workers' PYTHONPATH): 18 re-reads, 0.32 s on a 2-core machine.
  Python 3.13 made this lazy. Here, on older Pythons, an archive is re-read only when
  its size or modification time changed, once for all its importers.
"""

from __future__ import annotations

import importlib
import os
import sys
import zipimport

import numpy as np

# Everything a task unpickles and runs: the worker layer (folds, scorers' Arrow side,
# the k-NN search) and the states layer (every state and scorer, on the kernels). The
# stages' functions are pickled by reference to these modules, never to a family's.
WORKER_MODULES = (
    "sagespark.udfs.fold",
    "sagespark.udfs.score",
    "sagespark.udfs.knn",
    "sagespark.udfs.sample",
    "sagespark.udfs.rows",
    "sagespark.states",
)


def preload() -> None:
    for name in WORKER_MODULES:
        importlib.import_module(name)
    _start_numba()
    if sys.version_info < (3, 13):
        zipimport.zipimporter.invalidate_caches = _reread_if_changed


def _start_numba() -> None:
    """Run one small cached kernel: numba's first call in a process starts its compiler."""
    from sagespark.kernels.kmeans import nearest_centers

    nearest_centers(np.zeros((1, 1)), np.zeros((1, 1)))


_reread_all = zipimport.zipimporter.invalidate_caches
_archive_versions: dict[str, tuple[int, int] | None] = {}


def _reread_if_changed(importer: zipimport.zipimporter) -> None:
    """zipimporter.invalidate_caches that skips archives unchanged since their last read."""
    archive = importer.archive
    try:
        stat = os.stat(archive)
        version = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        version = None
    directory = zipimport._zip_directory_cache.get(archive)  # type: ignore[attr-defined]
    if version is not None and directory is not None and _archive_versions.get(archive) == version:
        importer._files = directory  # type: ignore[attr-defined]
        return
    _reread_all(importer)
    _archive_versions[archive] = version


if __name__ == "__main__":
    preload()
    from pyspark.daemon import manager

    manager()
