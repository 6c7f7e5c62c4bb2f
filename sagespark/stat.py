"""Mergeable summaries of DataFrame columns, each in one pass.

- ``summarize``: moments (count, weighted mean, variance, min, max, non-zeros) and KLL
  quantile sketches of numeric columns or of a vector column's dimensions; the result
  merges with a later result or with Spark SQL ``kll_sketch_agg_double`` sketches, and
  saves to a file.
- ``approx_quantiles``: quantiles of many columns with the sketch's rank-error bound.
- ``sample``: an exact-size weighted sample of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from sagespark.spark.features import feature_spec, require_column
from sagespark.spark.fold import fold_dataset
from sagespark.spark.jvm_states import sql_sketches
from sagespark.states import ColumnSummary, QuantileSketches, state_from_bytes
from sagespark.states.base import new_state
from sagespark.states.quantiles import DEFAULT_K
from sagespark.udfs.sample import SAMPLE_KEY, sample_partition


class Summary:
    """The result of ``summarize``: one entry per name (a numeric column, or
    ``col[i]`` for dimension i of a vector column), in order."""

    def __init__(self, names: Sequence[str], state: ColumnSummary, rows_skipped: int = 0) -> None:
        self.names = list(names)
        self.state = state
        self.rows_skipped = rows_skipped
        self._moments = state.moments.finalize()

    count = property(lambda self: self._moments.count, doc="rows summarized")
    weight_sum = property(lambda self: self._moments.weight_sum)
    mean = property(lambda self: self._moments.mean)
    variance = property(lambda self: self._moments.variance, doc="unbiased (MLlib Summarizer's)")
    std = property(lambda self: self._moments.std)
    min = property(lambda self: self._moments.min)
    max = property(lambda self: self._moments.max)
    num_nonzeros = property(lambda self: self._moments.num_nonzeros)

    @property
    def rank_error(self) -> float:
        return self.state.sketches.rank_error

    def __repr__(self) -> str:
        shown = self.names if len(self.names) <= 6 else [*self.names[:5], f"... ({len(self.names)} in all)"]
        return (f"Summary(columns={shown}, rows={self.count}, rowsSkipped={self.rows_skipped}, "
                f"rankError={self.rank_error:.2g})")

    def quantiles(self, probabilities: Sequence[float]) -> np.ndarray:
        """Shape (names, probabilities); each within ``rank_error`` in rank."""
        return self.state.sketches.finalize(probabilities)

    def merge(self, other: "Summary") -> "Summary":
        if other.names != self.names:
            raise ValueError(f"cannot merge summaries of different columns: {self.names} vs {other.names}")
        return Summary(self.names, self.state.merge(other.state), self.rows_skipped + other.rows_skipped)

    def to_sql_sketches(self) -> dict[str, bytes]:
        """Each name's KLL sketch, readable by Spark SQL's kll_sketch_* functions."""
        return dict(zip(self.names, self.state.sketches.to_sql_sketches()))

    def merge_sql_sketches(self, sketches: dict[str, bytes]) -> "Summary":
        """A summary whose quantile sketches also hold these SQL sketches (moments are
        unchanged: a SQL sketch carries no moments). Every name must be given."""
        missing = [n for n in self.names if n not in sketches]
        if missing:
            raise ValueError(f"no SQL sketch for {missing}")
        merged = ColumnSummary.__new__(ColumnSummary)
        merged.moments = self.state.moments
        merged.sketches = self.state.sketches.merge_sql_sketches([sketches[n] for n in self.names])
        return Summary(self.names, merged, self.rows_skipped)

    def save(self, path: str | Path) -> None:
        """One .npz file (no pickle) on the driver's file system."""
        with open(path, "wb") as f:
            np.savez(f, state=np.frombuffer(self.state.to_bytes(), np.uint8), names=np.array(self.names),
                     rows_skipped=np.array(self.rows_skipped))  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> "Summary":
        with np.load(path, allow_pickle=False) as saved:
            state = state_from_bytes(saved["state"].tobytes())
            return cls([str(n) for n in saved["names"]], state, int(saved["rows_skipped"]))


def _names(dataset: DataFrame, cols: str | Sequence[str]) -> tuple[str, list[str]]:
    if isinstance(cols, str):
        return cols, []
    return "features", list(cols)


def summarize(
    dataset: DataFrame,
    cols: str | Sequence[str],
    k: int = DEFAULT_K,
    weightCol: str | None = None,
    handleInvalid: str = "error",
) -> Summary:
    """Moments and quantile sketches in one pass. ``cols``: a list of numeric columns,
    or the name of one vector / numeric-array column (each dimension summarized)."""
    features_col, features_cols = _names(dataset, cols)
    columns, spec = feature_spec(dataset, features_col, features_cols, weightCol, handleInvalid)
    result = fold_dataset(dataset, columns, spec, partial(new_state, kind=ColumnSummary.kind, k=int(k)))
    names = features_cols or [f"{features_col}[{j}]" for j in range(spec.n_features)]
    return Summary(names, result.state, result.skipped)


@dataclass(frozen=True)
class ApproxQuantiles:
    """``quantiles[i][j]``: column i at probability j (DataFrame.approxQuantile's
    layout); every value's rank is within ``rankError`` of the probability (99%)."""

    quantiles: list[list[float]]
    rankError: float
    method: str  # 'sql' (Spark's native KLL aggregate) or 'python' (mapInArrow fold)


def approx_quantiles(
    dataset: DataFrame,
    cols: str | Sequence[str],
    probabilities: Sequence[float],
    k: int = DEFAULT_K,
    method: str = "auto",
) -> ApproxQuantiles:
    """Quantiles of every column in one pass. For numeric columns ('auto' = 'sql') the
    sketches come from Spark SQL's native ``kll_sketch_agg_double`` (null and NaN ignored,
    as approxQuantile does); a vector column is sketched per dimension in Python
    ('python'; nulls and NaN are errors)."""
    if method not in ("auto", "sql", "python"):
        raise ValueError(f"method must be 'auto', 'sql' or 'python', got {method!r}")
    vector = isinstance(cols, str)
    if vector and method == "sql":
        raise ValueError("method='sql' needs numeric columns; a vector column is sketched with method='python'")
    use_sql = not vector and method != "python"
    if use_sql:
        sketches, _ = sql_sketches(dataset, list(cols), k)
    else:
        features_col, features_cols = _names(dataset, cols)
        columns, spec = feature_spec(dataset, features_col, features_cols, None, "error")
        sketches = fold_dataset(dataset, columns, spec, partial(new_state, kind=QuantileSketches.kind, k=int(k))).state
    values = sketches.finalize(probabilities)
    return ApproxQuantiles(values.tolist(), sketches.rank_error, "sql" if use_sql else "python")


def sample(dataset: DataFrame, n: int, weightCol: str | None = None, seed: int = 0) -> DataFrame:
    """Exactly min(n, rows of positive weight) rows, drawn without replacement with
    probability proportional to ``weightCol`` (uniform without it), in one pass: each
    partition keeps its rows with the n largest A-Res keys, and the n largest over all
    partitions are the sample (Spark's TakeOrderedAndProject). Deterministic for a seed
    and a partitioning. Null, negative, NaN or infinite weights are errors."""
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if weightCol is not None:
        require_column(dataset, weightCol)
    keyed_schema = StructType([*dataset.schema.fields, StructField(SAMPLE_KEY, DoubleType(), False)])
    keyed = dataset.mapInArrow(
        partial(sample_partition, n=int(n), weight_column=weightCol, seed=int(seed) % 2**63), keyed_schema
    )
    return keyed.orderBy(F.col(SAMPLE_KEY).desc()).limit(int(n)).drop(SAMPLE_KEY)


__all__ = ["ApproxQuantiles", "ColumnSummary", "Summary", "approx_quantiles", "sample", "summarize"]
