"""Fault recovery in local-cluster mode: the time and the model of a fit whose fold tasks
fail, against a clean fit, for one conformance case per algorithm.

    python benchmarks/fault_recovery.py

One local-cluster[2,1,1024] session (spark.task.maxFailures = 2, the Python workers
started with SAGESPARK_FAULT_INJECTION=1); each case's data is the conformance suite's
(400 rows, 3 partitions). Per case: a warm-up fit, the best of 3 clean fits, then the
best of 3 fits in which partition 0's first fold attempt raises and partition 1's Python
worker is killed (sagespark/udfs/faults.py). Prints one JSON line per case: both times
and whether every saved array is byte-identical.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the conformance cases live in tests/


def main() -> None:
    from sagespark.spark.session import local_session
    from sagespark.udfs.faults import FAULT_PROPERTY, LOG_PROPERTY
    from tests.conftest import CLUSTER_CONF
    from tests.spark.conformance import CASES
    from tests.spark.test_conformance import frame
    from tests.spark.test_faults import FAULT_CASES

    spark = local_session("local-cluster[2,1,1024]", driver_memory="2g", shuffle_partitions=4, conf=CLUSTER_CONF)
    context = spark.sparkContext
    faults = "fail:0,kill:1"
    for case in (c for c in CASES if c in FAULT_CASES):
        x = case.data()
        df, _ = frame(spark, x, labels=case.labels(x) if case.labels else None)
        case.make().fit(df)

        def timed_fit():
            start = time.perf_counter()
            model = case.make().fit(df)
            return time.perf_counter() - start, model

        clean = min((timed_fit() for _ in range(3)), key=lambda r: r[0])
        faulted = []
        for _ in range(3):
            context.setLocalProperty(FAULT_PROPERTY, faults)
            context.setLocalProperty(LOG_PROPERTY, tempfile.mkdtemp())
            try:
                faulted.append(timed_fit())
            finally:
                context.setLocalProperty(FAULT_PROPERTY, None)
                context.setLocalProperty(LOG_PROPERTY, None)
        arrays = [{k: np.asarray(v).tobytes() for k, v in m._model_arrays().items()} for _, m in faulted]
        reference = {k: np.asarray(v).tobytes() for k, v in clean[1]._model_arrays().items()}
        print(json.dumps({
            "case": case.name, "faults": faults, "clean_fit_s": round(clean[0], 2),
            "faulted_fit_s": round(min(t for t, _ in faulted), 2),
            "identical_models": all(a == reference for a in arrays),
        }), flush=True)  # fmt: skip
    spark.stop()


if __name__ == "__main__":
    main()
