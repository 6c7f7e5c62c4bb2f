"""sagespark.spark.engines: the checked rows handed to another engine (their census
against a hand count) and the task-slot pool barrier trainings take turns on."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from pyspark.sql import functions as F

from sagespark.spark.engines import SlotPool, barrier_workers, checked_rows
from sagespark.spark.features import feature_spec
from sagespark.udfs.arrow import CLASS_INDEX_LABELS


def test_checked_rows_count_and_keep_exactly_the_valid_rows(spark):
    """12 rows, one null and one with NaN (skipped), labels 0/1/2, every third row a
    validation row: the census and the rows handed on, against a hand count."""
    rows = [(i, None if i == 4 else [float(i), float("nan") if i == 7 else 1.0], float(i % 3), i % 3 == 0)
            for i in range(12)]  # fmt: skip
    df = spark.createDataFrame(rows, "id long, arr array<double>, label double, val boolean").coalesce(2)
    columns, spec = feature_spec(df, "arr", None, None, "skip", 2, label_col="label",
                                 num_classes=CLASS_INDEX_LABELS, holdout=(F.col("val"), "val"))  # fmt: skip
    valid, census = checked_rows(df, columns, spec)
    kept = [i for i in range(12) if i not in (4, 7)]
    assert (census.rows, census.skipped) == (10, 2)
    assert census.holdout == sum(i % 3 == 0 for i in kept)
    np.testing.assert_array_equal(census.label_counts, np.bincount([i % 3 for i in kept]))
    got = sorted((r["features"][0], r["label"], r["validation"]) for r in valid.collect())
    assert got == [(float(i), float(i % 3), i % 3 == 0) for i in kept]
    with pytest.raises(ValueError, match="partition 0: 1 row\\(s\\) are null"):
        checked_rows(df, *feature_spec(df, "arr", None, None, "error", 2))


def test_a_training_that_needs_every_slot_waits_for_the_one_holding_them():
    pool, spans, lock = SlotPool(), [], threading.Lock()

    def train(slots: int) -> None:
        with pool.hold(slots, 2):
            start = time.perf_counter()
            time.sleep(0.2)
            with lock:
                spans.append((slots, start, time.perf_counter()))

    for sizes, overlap in (((2, 2), False), ((1, 1), True)):
        spans.clear()
        threads = [threading.Thread(target=train, args=(n,)) for n in sizes]
        [t.start() for t in threads]
        [t.join() for t in threads]
        (_, a0, a1), (_, b0, b1) = sorted(spans, key=lambda s: s[1])
        assert (b0 < a1) == overlap, sizes


def test_barrier_workers_default_to_every_slot(spark):
    assert barrier_workers(0, spark) == (2, 2)  # local[2]
    assert barrier_workers(1, spark) == (1, 2)
    with pytest.raises(ValueError, match="numWorkers must be >= 0"):
        barrier_workers(-1, spark)
