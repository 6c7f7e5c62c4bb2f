"""Glue for stages that hand training to another engine's barrier stage (xgboost.spark
trains XGBoost): the input checked by the house's decoding before that engine sees it,
and the task slots its barrier stage needs at once. Knows no algorithm."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Iterator

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession

from sagespark.spark.fold import collect_arrow
from sagespark.spark.progress import job_description
from sagespark.spark.session import spark_context
from sagespark.udfs.arrow import FeatureSpec
from sagespark.udfs.fold import first_error
from sagespark.udfs.rows import CENSUS_SCHEMA, add_padded, census_partition, valid_rows, valid_rows_schema


@dataclass(frozen=True)
class Census:
    """What one checking pass counted: valid rows, rows skipped as invalid
    (handleInvalid='skip'), validation rows among the valid ones, and rows per class
    (labels that are class indices; empty otherwise)."""

    rows: int
    skipped: int
    holdout: int
    label_counts: np.ndarray


def checked_rows(
    dataset: DataFrame, columns: list[Column], spec: FeatureSpec, description: str | None = None
) -> tuple[DataFrame, Census]:
    """(the valid rows as plain columns, sagespark.udfs.rows.valid_rows; what a first
    pass counted). Invalid input raises here, with the house's message, under
    handleInvalid='error'; under 'skip' the rows are dropped and counted."""
    selected = dataset.select(*columns)
    with job_description(dataset, description):
        table = collect_arrow(selected.mapInArrow(partial(census_partition, spec=spec), CENSUS_SCHEMA))
    error = first_error(table)
    if error is not None:
        raise ValueError(error)
    label_counts = np.zeros(0)
    for counts in table.column("label_counts").to_pylist():
        label_counts = add_padded(label_counts, np.asarray(counts, dtype=np.float64))
    census = Census(int(np.sum(table.column("rows"))), int(np.sum(table.column("skipped"))),
                    int(np.sum(table.column("holdout"))), label_counts)  # fmt: skip
    if census.rows == 0:
        if census.skipped:
            raise ValueError(f"no valid rows to fit: all {census.skipped} row(s) were skipped as invalid "
                             "(handleInvalid='skip')")  # fmt: skip
        raise ValueError("the dataset is empty: there are no rows to fit")
    return selected.mapInArrow(partial(valid_rows, spec=spec), valid_rows_schema(spec)), census


def task_slots(spark: SparkSession) -> int:
    """Tasks the cluster runs at once (executor cores / spark.task.cpus, summed): what
    a barrier stage of that many tasks can get."""
    jsc = spark.sparkContext._jsc.sc()
    return int(jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().resourceProfileFromId(0)))


def require_classic(dataset: DataFrame, what: str) -> SparkSession:
    """The classic session behind ``dataset``; on Spark Connect the error says why
    ``what`` needs one."""
    if spark_context(dataset) is None:
        raise ValueError(f"{what} needs a classic SparkSession: its engine trains in a barrier RDD stage, which "
                         "Spark Connect does not offer. Fit on a classic session and save the model; loading, "
                         "transform and evaluators work on Connect.")  # fmt: skip
    return dataset.sparkSession


class SlotPool:
    """The task slots this driver's barrier trainings hold. A barrier stage starts only
    when all its tasks get slots at once, and two that each hold part of the slots wait
    on each other (xgboost#5625); trainings started here (CrossValidator's parallel
    fits among them) therefore take their slots from this pool and wait their turn."""

    def __init__(self) -> None:
        self._held = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, slots: int, total: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._held == 0 or self._held + slots <= total)
            self._held += slots
        try:
            yield
        finally:
            with self._changed:
                self._held -= slots
                self._changed.notify_all()


BARRIER_SLOTS = SlotPool()


def barrier_workers(requested: int, spark: SparkSession, param: str = "numWorkers") -> tuple[int, int]:
    """(workers for a barrier training, the cluster's task slots): ``requested``, or
    every slot when it is 0; more than the slots is a clear error before any job."""
    total = task_slots(spark)
    if requested < 0:
        raise ValueError(f"{param} must be >= 0 (0: one per task slot), got {requested}")
    if requested > total:
        raise ValueError(f"{param}={requested} needs {requested} task slots at once (a barrier stage), but the "
                         f"cluster has {total} (executor cores / spark.task.cpus); set {param} <= {total}, or 0 "
                         "for all of them")  # fmt: skip
    return (requested or total), total
