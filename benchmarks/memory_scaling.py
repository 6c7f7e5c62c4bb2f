"""Bounded memory: peak RSS of the Python workers and of the driver as rows grow 10x.

    python benchmarks/memory_scaling.py [--rows 1000000 10000000] [--dim 16] [--partitions 8]

For each algorithm and row count, a fresh child process starts its own local[2] session
(so no worker carries memory from an earlier fit), generates the rows with Spark on the
fly (``spark.range`` + ``randn``, never stored or cached) and fits once. The partition
count is fixed, so 10x rows means 10x rows per fold task. A sampler thread reads the
peak resident set (``VmHWM`` in /proc/<pid>/status, the kernel's own high-water mark)
of every process under the driver every 0.2 s: the Python workers (forked by
pyspark.daemon), the driver JVM, and the Python driver itself. Prints one JSON line per
fit and one per algorithm with the worker peak ratio (10M / 1M).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ALGORITHMS = ("KMeans", "PCA-regular", "PCA-fd", "LinearLearnerClassifier", "FMClassifier")


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children + [d for c in children for d in descendants(c)]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class PeakSampler(threading.Thread):
    """The largest VmHWM seen per process kind: 'worker' (Python processes under the JVM),
    'jvm' (the driver JVM, which also runs the executors in local mode)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peaks = {"worker": 0, "jvm": 0}
        self.workers_seen: set[int] = set()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.sample()

    def sample(self) -> None:
        for pid in descendants(os.getpid()):
            line = command_line(pid)
            kind = "jvm" if "java" in line.split(" ")[0] else "worker" if "python" in line else None
            if kind is None:
                continue
            if kind == "worker" and "pyspark.daemon" in line:
                self.workers_seen.add(pid)
            self.peaks[kind] = max(self.peaks[kind], peak_rss_kib(pid))


def generated(spark, rows: int, dim: int, partitions: int):
    """rows x dim standard normal features and a label from a fixed linear model."""
    from pyspark.sql import functions as F

    base = spark.range(0, rows, numPartitions=partitions)
    columns = [F.randn(seed=j) for j in range(dim)]
    score = sum(c * (1.0 if j % 2 == 0 else -0.5) for j, c in enumerate(columns)) + F.randn(seed=dim)
    return base.select(F.array(*columns).alias("features"), (score > 0).cast("double").alias("label"))


def estimator(name: str):
    from sagespark.classification import FMClassifier, LinearLearnerClassifier
    from sagespark.clustering import KMeans
    from sagespark.feature import PCA

    return {
        "KMeans": lambda: KMeans(k=20, seed=1),
        "PCA-regular": lambda: PCA(k=5, inputCol="features", algorithmMode="regular"),
        "PCA-fd": lambda: PCA(k=5, inputCol="features", algorithmMode="fd"),
        "LinearLearnerClassifier": lambda: LinearLearnerClassifier(seed=1),
        "FMClassifier": lambda: FMClassifier(factorSize=4, seed=1),
    }[name]()


def fit_once(name: str, rows: int, dim: int, partitions: int) -> dict:
    """In this (child) process: one session, one fit, the peaks."""
    from sagespark.spark.session import local_session

    sampler = PeakSampler()
    sampler.start()
    spark = local_session("local[2]", driver_memory="2g")
    df = generated(spark, rows, dim, partitions)
    start = time.perf_counter()
    model = estimator(name).fit(df)
    seconds = time.perf_counter() - start
    sampler.sample()
    sampler.stopped.set()
    import resource

    driver_python = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spark.stop()
    return {
        "algorithm": name, "rows": rows, "dim": dim, "partitions": partitions, "fit_s": round(seconds, 2),
        "rows_fitted": int(model.summary.numRows),
        "worker_peak_mib": round(sampler.peaks["worker"] / 1024, 1),
        "driver_jvm_peak_mib": round(sampler.peaks["jvm"] / 1024, 1),
        "driver_python_peak_mib": round(driver_python / 1024, 1),
        "python_workers": len(sampler.workers_seen),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS))
    parser.add_argument("--child", nargs=2, metavar=("ALGORITHM", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fit_once(args.child[0], int(args.child[1]), args.dim, args.partitions)))
        return
    for name in args.algorithms:
        results = []
        for rows in args.rows:
            child = [sys.executable, __file__, "--child", name, str(rows), "--dim", str(args.dim),
                     "--partitions", str(args.partitions)]  # fmt: skip
            out = subprocess.run(child, capture_output=True, text=True, check=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
        first, last = results[0], results[-1]
        print(json.dumps({
            "algorithm": name, "rows": [first["rows"], last["rows"]],
            "worker_peak_ratio": round(last["worker_peak_mib"] / first["worker_peak_mib"], 3),
            "driver_jvm_peak_ratio": round(last["driver_jvm_peak_mib"] / first["driver_jvm_peak_mib"], 3),
            "driver_python_peak_ratio": round(last["driver_python_peak_mib"] / first["driver_python_peak_mib"], 3),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
