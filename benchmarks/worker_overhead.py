"""Python worker overhead: pyspark's stock daemon against sagespark.udfs.daemon.

    python benchmarks/worker_overhead.py

For each daemon, one local[2] session (the test suite's settings otherwise) measures:

- ``fit_seconds``: a StandardScaler fit on 40 cached rows in one partition, with warm
  workers, median of 5;
- ``fit_8_partitions_seconds``: the same rows in 8 partitions (8 fold tasks, each paying
  pyspark's import-cache invalidation), median of 5;
- ``fit_uncached_rows_seconds``: the one-partition fit on the rows straight from
  ``createDataFrame`` (not cached: each scan runs them through a Python RDD worker too),
  median of 5;
- ``fit_after_error_seconds``: the one-partition fit right after a fit that failed on a
  NaN row (the failed task's worker is gone, so a fresh fork serves the next one),
  median of 5.

Prints one JSON line per daemon and one with the ratios stock / sagespark.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test settings live in tests/

DAEMONS = ("pyspark.daemon", "sagespark.udfs.daemon")


def measure(daemon: str) -> dict:
    from sagespark.feature import StandardScaler
    from sagespark.spark.session import local_session
    from tests.conftest import TEST_CONF

    conf = {**TEST_CONF, "spark.python.daemon.module": daemon}
    spark = local_session("local[2]", driver_memory="2g", shuffle_partitions=4, conf=conf)
    try:
        rows = [([float(i % 7), float(i % 5), 1.0, 2.0],) for i in range(40)]
        good = spark.createDataFrame(rows, "arr array<double>").coalesce(1).cache()
        bad = spark.createDataFrame(rows + [([float("nan"), 0.0, 0.0, 0.0],)], "arr array<double>")
        bad = bad.coalesce(1).cache()
        uncached = spark.createDataFrame(rows, "arr array<double>").coalesce(1)
        spread = good.repartition(8).cache()
        good.count(), bad.count(), spread.count()

        def fit(frame=good) -> float:
            start = time.perf_counter()
            StandardScaler(inputCol="arr").fit(frame)
            return time.perf_counter() - start

        def fit_after_error() -> float:
            try:
                StandardScaler(inputCol="arr").fit(bad)
            except ValueError:
                pass
            return fit()

        fit(), fit(spread), fit(uncached)
        return {
            "daemon": daemon,
            "fit_seconds": round(statistics.median(fit() for _ in range(5)), 3),
            "fit_8_partitions_seconds": round(statistics.median(fit(spread) for _ in range(5)), 3),
            "fit_uncached_rows_seconds": round(statistics.median(fit(uncached) for _ in range(5)), 3),
            "fit_after_error_seconds": round(statistics.median(fit_after_error() for _ in range(5)), 3),
        }
    finally:
        spark.stop()


def main() -> None:
    results = [measure(daemon) for daemon in DAEMONS]
    for result in results:
        print(json.dumps(result))
    stock, ours = results
    keys = [k for k in ours if k.endswith("_seconds")]
    print(json.dumps({"ratio stock/sagespark": {k: round(stock[k] / ours[k], 2) for k in keys}}))


if __name__ == "__main__":
    main()
