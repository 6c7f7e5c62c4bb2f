"""Progress a user can see: Spark job descriptions naming the stage and the pass.

Spark shows a job's description in its UI (Jobs and Stages pages) and in the SQL tab, so
a long fit reads as "sagespark KMeans: pass 1/1" there instead of "toArrow at ...".
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from pyspark.sql import DataFrame

_DESCRIPTION = "spark.job.description"


def pass_description(stage: object, index: int, passes: int) -> str:
    """'sagespark <Stage class>: pass <index>/<passes>' (index counts from 1)."""
    return f"sagespark {type(stage).__name__}: pass {index}/{passes}"


@contextmanager
def job_description(dataset: DataFrame, description: str | None) -> Iterator[None]:
    """Jobs started inside carry ``description``; the caller's own description comes
    back afterwards. A no-op without one, and on Spark Connect (no SparkContext)."""
    context = _context(dataset) if description else None
    if context is None:
        yield
        return
    previous = context.getLocalProperty(_DESCRIPTION)
    context.setJobDescription(description)
    try:
        yield
    finally:
        context.setLocalProperty(_DESCRIPTION, previous)


def _context(dataset: DataFrame):
    try:
        return dataset.sparkSession.sparkContext
    except Exception:  # Spark Connect: no SparkContext
        return None
