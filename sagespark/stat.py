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

from sagespark.feature.summary_stages import _new_sketches, sql_sketches
from sagespark.spark.features import feature_spec
from sagespark.spark.fold import fold_dataset
from sagespark.streaming import Moments, QuantileSketches, State, state_from_bytes
from sagespark.streaming.quantiles import DEFAULT_K
from sagespark.udfs.sample import SAMPLE_KEY, sample_partition


class ColumnSummary(State):
    """Moments and quantile sketches over the same columns, updated together. Weights
    apply to the moments; the sketches count rows (DataFrame quantiles are unweighted)."""

    kind = "column_summary"

    def __init__(self, k: int = DEFAULT_K) -> None:
        self.moments, self.sketches = Moments(), QuantileSketches(k)

    def update(self, x, weights=None) -> "ColumnSummary":
        self.moments.update(x, weights)
        self.sketches.update(x)
        return self

    def merge(self, other: "ColumnSummary") -> "ColumnSummary":
        merged = ColumnSummary.__new__(ColumnSummary)
        merged.moments, merged.sketches = self.moments.merge(other.moments), self.sketches.merge(other.sketches)
        return merged

    def finalize(self):
        return self.moments.finalize()

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"moments.{k}": v for k, v in self.moments.to_arrays().items()}
        arrays.update({f"sketches.{k}": v for k, v in self.sketches.to_arrays().items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ColumnSummary":
        state = cls.__new__(cls)
        state.moments = Moments.from_arrays(_prefixed(arrays, "moments."))
        state.sketches = QuantileSketches.from_arrays(_prefixed(arrays, "sketches."))
        return state


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _new_summary(partition: int, k: int) -> ColumnSummary:
    return ColumnSummary(k)


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
    result = fold_dataset(dataset, columns, spec, partial(_new_summary, k=int(k)))
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
        sketches = fold_dataset(dataset, columns, spec, partial(_new_sketches, k=int(k))).state
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
    if weightCol is not None and weightCol not in dataset.columns:
        raise ValueError(f"column '{weightCol}' not found; the dataset has {dataset.columns}")
    keyed_schema = StructType([*dataset.schema.fields, StructField(SAMPLE_KEY, DoubleType(), False)])
    keyed = dataset.mapInArrow(
        partial(sample_partition, n=int(n), weight_column=weightCol, seed=int(seed) % 2**63), keyed_schema
    )
    return keyed.orderBy(F.col(SAMPLE_KEY).desc()).limit(int(n)).drop(SAMPLE_KEY)


__all__ = ["ApproxQuantiles", "ColumnSummary", "Summary", "approx_quantiles", "sample", "summarize"]
