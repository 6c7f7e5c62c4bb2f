"""States computed by Spark's own JVM aggregates, where those compute a state's sums
faster than shipping the rows to Python workers (BENCHMARKS.md: the Arrow transfer of
a narrow vector column costs more than MLlib's whole Summarizer pass).

The aggregate runs in one job together with a count of the rows the Python path would
reject (null, or of the wrong dimension; MLlib's Summarizer checks the size of a
vector row itself and fails its job). Those aggregates cannot report where bad rows
are, so any doubt (Spark Connect, an invalid row, a failed job, a non-finite
statistic, no rows) returns None and the caller runs its Python pass, which raises the documented
error or skips and counts the rows (handleInvalid) exactly as before. The state is the
same mergeable state the Python pass builds, so incremental fits and merges do not see
the difference.

Each aggregate runs per input partition (``_per_partition``) and the partition results
are merged on the driver in partition order, as the Python pass's tree merge does:
Spark's own final aggregation merges partial results in the order tasks finish, which
on a cluster changes from run to run and with it the last bits of a sum.
"""

from __future__ import annotations

from functools import reduce
from typing import Sequence

import numpy as np
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import VectorUDT
from pyspark.ml.stat import Summarizer
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from sagespark.spark.features import require_column, vector_size
from sagespark.spark.session import spark_context
from sagespark.states import ExactCovariance, Moments, QuantileSketches

_METRICS = ("count", "mean", "variance", "min", "max", "numNonZeros")
_PARTITION = "_ss_partition"


def _per_partition(dataset: DataFrame, *aggregates: Column) -> list[Row]:
    """The aggregates over each non-empty input partition, one row each, in partition
    order (one job; the shuffle moves one partial result per partition)."""
    rows = dataset.groupBy(F.spark_partition_id().alias(_PARTITION)).agg(*aggregates).collect()
    return sorted(rows, key=lambda row: row[_PARTITION])


def _columns_and_validity(features_cols: Sequence[str]) -> tuple[list[Column], Column]:
    """Numeric featuresCols as doubles, valid where none is null."""
    columns = [F.col(name).cast("double") for name in features_cols]
    return columns, reduce(lambda a, b: a & b, [c.isNotNull() for c in columns])


def _array_and_validity(column: Column, n_features: int) -> tuple[Column, Column]:
    """A numeric array column as array<double>, valid where it has ``n_features``
    non-null values."""
    values = column.cast("array<double>")
    valid = column.isNotNull() & (F.size(values) == n_features) & ~F.exists(values, lambda v: v.isNull())
    return values, F.coalesce(valid, F.lit(False))


def vector_and_validity(dataset: DataFrame, features_col: str, features_cols: Sequence[str] | None,
                        n_features: int) -> tuple[Column, Column]:  # fmt: skip
    """(an ML vector column, a boolean column: the row has ``n_features`` non-null
    values) for a vector column, a numeric array column or numeric featuresCols."""
    if features_cols:
        columns, valid = _columns_and_validity(features_cols)
        return array_to_vector(F.array(*columns)), valid
    column = F.col(features_col)
    if isinstance(dataset.schema[features_col].dataType, VectorUDT):
        return column, F.coalesce(column.isNotNull() & (vector_size(column) == n_features), F.lit(False))
    values, valid = _array_and_validity(column, n_features)
    return array_to_vector(values), valid


def _summarizer_input(dataset: DataFrame, features_col: str, features_cols: Sequence[str] | None,
                      n_features: int) -> tuple[Column, Column]:  # fmt: skip
    """(the Summarizer's vector column, an aggregate: how many rows are invalid).

    A vector column goes in as it is (wrapping it in a CASE per row costs a quarter of
    the Summarizer's time, BENCHMARKS.md): the Summarizer fails the job on a row of
    another size itself, and a null row, which it cannot take, stands in as zeros and
    is counted. Other layouts are assembled, and invalid rows stand in as zeros."""
    zeros = array_to_vector(F.array_repeat(F.lit(0.0), n_features))
    column = F.col(features_col)
    if not features_cols and isinstance(dataset.schema[features_col].dataType, VectorUDT):
        return F.coalesce(column, zeros), F.count(F.lit(1)) - F.count(column)
    vector, valid = vector_and_validity(dataset, features_col, features_cols, n_features)
    return F.when(valid, vector).otherwise(zeros), F.sum((~valid).cast("long"))


def summarizer_moments(dataset: DataFrame, features_col: str, features_cols: Sequence[str] | None,
                       n_features: int) -> Moments | None:  # fmt: skip
    """The Moments of every row (unit weights) from MLlib's Summarizer in one job, or
    None when a row is invalid or a statistic is not finite (see the module docstring).

    Summarizer gives the count n, the mean, the unbiased variance (Welford's centred
    sums inside, so M2 = variance (n - 1) carries no cancellation), min, max and the
    non-zero counts: all of Moments for unit weights (W = sum w^2 = n)."""
    if spark_context(dataset) is None:  # Spark Connect: MLlib's Summarizer needs the classic JVM session
        return None
    summarized, invalid = _summarizer_input(dataset, features_col, features_cols, n_features)
    summary = Summarizer.metrics(*_METRICS).summary(summarized)
    try:
        rows = _per_partition(dataset, summary.alias("s"), invalid.alias("invalid"))
    except (Py4JJavaError, PySparkException):  # the Summarizer's own size check failed on a row
        return None
    if not rows or any((row["invalid"] or 0) > 0 for row in rows):
        return None
    parts = [_summarized_moments(row["s"], n_features) for row in rows]
    if any(part is None for part in parts):
        return None
    moments = reduce(lambda a, b: a.merge(b), parts)
    return moments if moments.count > 0 else None


def _summarized_moments(stats: Row, n_features: int) -> Moments | None:
    """Moments of one Summarizer result, or None for a non-finite statistic."""
    mean, variance, low, high = (np.asarray(stats[name].toArray(), dtype=np.float64)
                                 for name in ("mean", "variance", "min", "max"))  # fmt: skip
    if mean.size != n_features or not all(np.isfinite(a).all() for a in (mean, variance, low, high)):
        return None
    n = int(stats["count"])
    moments = Moments(n_features)
    moments.count, moments.weight_sum, moments.weight_sq_sum = n, float(n), float(n)
    moments.mean, moments.m2, moments.min, moments.max = mean, variance * max(n - 1, 0), low, high
    moments.nnz = np.rint(stats["numNonZeros"].toArray()).astype(np.int64)
    return moments


# Measured (BENCHMARKS.md, 1M dense rows, local[2]): Spark SQL's sums of pairwise
# products take 0.6-0.75 s at d = 10, where the Python pass takes 1.27 s and MLlib's PCA
# 1.09 s; at d = 16 they take 1.8-2.3 s (152 aggregate expressions), slower than both.
SQL_SCATTER_MAX_FEATURES = 10


def value_columns(dataset: DataFrame, features_col: str, features_cols: Sequence[str] | None,
                  n_features: int) -> tuple[list[Column], Column]:  # fmt: skip
    """(the ``n_features`` values of a row as plain double columns, a boolean column:
    the row has them all) for numeric featuresCols, a numeric array column or a vector
    column of dense rows (a sparse row counts as not valid here: densifying it needs
    a UDF, which Spark would call once per expression)."""
    if features_cols:
        return _columns_and_validity(features_cols)
    column = F.col(features_col)
    if isinstance(dataset.schema[features_col].dataType, VectorUDT):
        raw = F.unwrap_udt(column)
        values = raw.getField("values")
        valid = F.coalesce(column.isNotNull() & (raw.getField("type") == 1) & (F.size(values) == n_features),
                           F.lit(False))  # fmt: skip
    else:
        values, valid = _array_and_validity(column, n_features)
    # get() is null past the end (ANSI mode raises for values[i]); such rows are invalid anyway
    return [F.get(values, F.lit(i)) for i in range(n_features)], valid


def sql_covariance(dataset: DataFrame, features_col: str, features_cols: Sequence[str] | None,
                   n_features: int) -> ExactCovariance | None:  # fmt: skip
    """PCA's exact state (unit weights) from Spark SQL sums in one job, for narrow
    dense features; None where the Python pass must run (see the module docstring).

    With K the first row (shifting the data by a point from its own distribution keeps
    the sums small, so the textbook formula loses almost nothing to cancellation):
    s = sum (x - K), S = sum (x - K)(x - K)^T, mean = K + s / n and the centred scatter
    M2 = S - s s^T / n."""
    d = n_features
    if d > SQL_SCATTER_MAX_FEATURES or spark_context(dataset) is None:
        return None
    values, valid = value_columns(dataset, features_col, features_cols, d)
    first = dataset.select(F.array(*values).alias("x"), valid.alias("valid")).first()
    if first is None or not first["valid"]:
        return None
    shift = np.asarray(first["x"], dtype=np.float64)
    if not np.isfinite(shift).all():
        return None
    x = [v - F.lit(float(k)) for v, k in zip(values, shift)]
    sums = [F.sum(x[i]).alias(f"s{i}") for i in range(d)]
    products = [F.sum(x[i] * x[j]).alias(f"p{i}_{j}") for i in range(d) for j in range(i, d)]
    rows = _per_partition(dataset, F.count(F.lit(1)).alias("n"), F.sum((~valid).cast("long")).alias("invalid"),
                          *sums, *products)  # fmt: skip
    if not rows or any((row["invalid"] or 0) > 0 for row in rows):
        return None
    n = sum(int(row["n"]) for row in rows)
    s = reduce(np.add, [np.array([row[f"s{i}"] for i in range(d)], dtype=np.float64) for row in rows])
    upper = np.zeros((d, d))
    upper[np.triu_indices(d)] = reduce(np.add, [np.array([row[f"p{i}_{j}"] for i in range(d) for j in range(i, d)],
                                                         dtype=np.float64) for row in rows])  # fmt: skip
    products_matrix = upper + np.triu(upper, 1).T
    if not (np.isfinite(s).all() and np.isfinite(products_matrix).all()):
        return None
    state = ExactCovariance(d)
    state.count, state.weight_sum = n, float(n)
    state.mean = shift + s / n
    state.scatter = products_matrix - np.outer(s, s) / n
    return state


def sql_sketches(dataset: DataFrame, columns: list[str], k: int) -> tuple[QuantileSketches, int]:
    """One KLL sketch per numeric column from Spark SQL's native aggregate (one job),
    ignoring null and NaN as DataFrame.approxQuantile does; also the row count."""
    for name in columns:
        require_column(dataset, name)
    aggregates = [F.count(F.lit(1)).alias("rows")]
    for j, name in enumerate(columns):
        value = F.col(name).cast("double")
        aggregates.append(_kll_agg(F.when(~F.isnan(value), value), k).alias(f"s{j}"))
    rows = _per_partition(dataset, *aggregates)
    parts = [QuantileSketches.from_sql_sketches([row[f"s{j}"] for j in range(len(columns))], k) for row in rows]
    empty = [name for j, name in enumerate(columns) if all(row[f"s{j}"] is None for row in rows)]
    if empty:
        raise ValueError(f"no non-null, non-NaN values in column(s) {empty}")
    return reduce(lambda a, b: a.merge(b), parts), sum(int(row["rows"]) for row in rows)


def _kll_agg(value: Column, k: int) -> Column:
    return F.call_function("kll_sketch_agg_double", value, F.lit(int(k)))
