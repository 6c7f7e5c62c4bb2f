"""Faults in local-cluster mode: a fold task whose first attempt fails, and one whose Python
worker is killed mid-fold, are retried by Spark (``spark.task.maxFailures`` = 2) and the
model is byte-identical to a clean fit, for every algorithm (sagespark.udfs.faults
injects them)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest

from sagespark.udfs.faults import FAULT_PROPERTY, LOG_PROPERTY
from tests.spark import test_conformance as checks
from tests.spark.conformance import CASES

# One case per algorithm.
FAULT_CASES = [
    case
    for case in CASES
    if case.name
    in {"KMeans", "StandardScaler", "RobustScaler", "PCA-fd", "LinearLearnerClassifier-binary",
        "FMClassifier", "KNNClassifier"}
]  # fmt: skip
# The first attempt of partition 0's fold task fails; partition 1's Python worker is
# killed (FMClassifier coalesces to 2 partitions, so both exist everywhere).
FAULTS = {0: "fail", 1: "kill"}

pytestmark = [
    pytest.mark.matrix(modes=("local-cluster",)),
    pytest.mark.parametrize("case", FAULT_CASES, ids=[c.name for c in FAULT_CASES]),
]


@pytest.fixture
def data(spark, case):
    return checks.case_frame(spark, case)[0]


@contextmanager
def injected(spark, log_dir):
    """Jobs started inside hit the first attempt of the FAULTS partitions' fold tasks."""
    context = spark.sparkContext
    context.setLocalProperty(FAULT_PROPERTY, ",".join(f"{kind}:{p}" for p, kind in FAULTS.items()))
    context.setLocalProperty(LOG_PROPERTY, str(log_dir))
    try:
        yield
    finally:
        context.setLocalProperty(FAULT_PROPERTY, None)
        context.setLocalProperty(LOG_PROPERTY, None)


def saved_arrays(model) -> dict[str, bytes]:
    return {name: np.asarray(value).tobytes() for name, value in model._model_arrays().items()}


def test_failed_and_killed_fold_tasks_are_retried_to_the_same_model(spark, case, data, tmp_path, monkeypatch):
    if case.name == "StandardScaler":  # its valid rows go to MLlib's Summarizer (a JVM job Spark retries
        # itself); the Python pass, its path for invalid rows, is the one with fold tasks to hit
        from sagespark.algorithms import scalers

        monkeypatch.setattr(scalers, "summarizer_moments", lambda *args: None)
    clean = case.make().fit(data)
    with injected(spark, tmp_path):
        retried = case.make().fit(data)
    attempts = {p.name for p in tmp_path.iterdir()}
    for partition, kind in FAULTS.items():  # the fault hit attempt 0, and attempt 1 ran
        assert {f"{kind}-{partition}-0", f"{kind}-{partition}-1"} <= attempts, attempts
    assert saved_arrays(retried) == saved_arrays(clean)
    assert retried.summary.numRows == clean.summary.numRows
