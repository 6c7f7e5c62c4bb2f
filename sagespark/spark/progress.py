"""Progress a user can see: Spark job descriptions naming the stage and the pass, and
the wall time of each phase of a fit (a model summary's ``phaseSeconds``).

Spark shows a job's description in its UI (Jobs and Stages pages) and in the SQL tab, so
a long fit reads as "sagespark KMeans: pass 1/1" there instead of "toArrow at ...".

The phases of a fit:

- ``sample``: the linear learner's normalization sample (SGD only; read before the passes);
- ``fold``: the Spark jobs of the passes (read, decode, fold every partition into a
  state, tree-merge levels, collect the last states), summed over passes;
- ``merge``: the driver merging the collected states (and an initial model's state);
- ``finalize``: the driver turning the state into the model (a solve, local Lloyd, an
  index build).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Mapping

from pyspark.sql import DataFrame

from sagespark.spark.session import spark_context

_DESCRIPTION = "spark.job.description"
SAMPLE_PHASE, FOLD_PHASE, MERGE_PHASE, FINALIZE_PHASE = "sample", "fold", "merge", "finalize"


class PhaseClock:
    """Wall-clock seconds per named phase, summed when a phase repeats (the fold of
    every epoch)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add({name: time.perf_counter() - start})

    def add(self, seconds: Mapping[str, float]) -> None:
        for name, value in seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + value


def pass_description(stage: object, index: int, passes: int) -> str:
    """'sagespark <Stage class>: pass <index>/<passes>' (index counts from 1)."""
    return f"sagespark {type(stage).__name__}: pass {index}/{passes}"


_recorders: list[list[str]] = []


@contextmanager
def recorded_passes(passes: list[str] | None = None) -> Iterator[list[str]]:
    """The descriptions of the data passes sagespark's fits make inside the block (on
    this driver, from any thread: CrossValidator fits in parallel), in start order::

        with recorded_passes() as passes:
            CrossValidator(...).fit(df)
        print(len(passes))  # scans of the data
    """
    passes = [] if passes is None else passes  # a caller's list (one that prints, say) gets each pass too
    _recorders.append(passes)
    try:
        yield passes
    finally:
        _recorders.remove(passes)


def record_pass(description: str) -> None:
    """Count a data pass in the open ``recorded_passes`` blocks."""
    for passes in list(_recorders):
        passes.append(description)


@contextmanager
def job_description(dataset: DataFrame, description: str | None, record: bool = True) -> Iterator[None]:
    """A data pass: jobs started inside carry ``description``, the caller's own
    description comes back afterwards (no-op on Spark Connect, which has no
    SparkContext), and open ``recorded_passes`` blocks record it (unless ``record`` is
    False: an attempt that may not become the pass, recorded by ``record_pass``)."""
    if description and record:
        record_pass(description)
    context = spark_context(dataset) if description else None
    if context is None:
        yield
        return
    previous = context.getLocalProperty(_DESCRIPTION)
    context.setJobDescription(description)
    try:
        yield
    finally:
        context.setLocalProperty(_DESCRIPTION, previous)
