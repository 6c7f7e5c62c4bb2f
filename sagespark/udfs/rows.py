"""Checked rows for engines that read rows themselves (xgboost.spark trains on a
DataFrame of its own): every batch goes through the house's decoding, so invalid input
gets the same errors and the same ``handleInvalid='skip'`` as a fold.

- ``census_partition``: one row per partition with its valid and skipped rows, its
  validation rows and its label counts (class indices), or the invalid-input error;
  the driver reads it before training, so bad input fails before any barrier stage.
- ``valid_rows``: the valid rows as plain columns (dense ``features`` array, label,
  weight, validation flag) in the same order.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

from sagespark.kernels import CSRMatrix
from sagespark.udfs.arrow import FeatureSpec, InvalidInputError, decode
from sagespark.udfs.fold import partition_id

CENSUS_SCHEMA = "partition int, rows long, skipped long, holdout long, label_counts array<double>, error string"
FEATURES, LABEL, WEIGHT, VALIDATION = "features", "label", "weight", "validation"


def census_partition(batches: Iterable[pa.RecordBatch], spec: FeatureSpec) -> Iterator[pa.RecordBatch]:
    """The partition's counts (label_counts[c]: weight-free rows of class c, when the
    labels are class indices), or the first invalid-input error."""
    partition = partition_id()
    rows = skipped = holdout = 0
    label_counts = np.zeros(0)
    try:
        for batch in batches:
            decoded = decode(dict(zip(batch.schema.names, batch.columns)), spec, partition)
            rows += len(decoded.weights)
            skipped += decoded.skipped
            if decoded.holdout is not None:
                holdout += int(decoded.holdout.sum())
            if spec.num_classes and decoded.labels is not None and len(decoded.labels):
                counts = np.bincount(decoded.labels.astype(np.int64)).astype(np.float64)
                label_counts = add_padded(label_counts, counts)
    except InvalidInputError as error:
        yield _census_row(partition, 0, 0, 0, None, error.message)
        return
    yield _census_row(partition, rows, skipped, holdout, label_counts.tolist(), None)


def add_padded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b, the shorter padded with zeros (per-class counts of different lengths)."""
    out = np.zeros(max(len(a), len(b)))
    out[: len(a)] += a
    out[: len(b)] += b
    return out


def _census_row(partition, rows, skipped, holdout, label_counts, error) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({
        "partition": pa.array([partition], pa.int32()), "rows": pa.array([rows], pa.int64()),
        "skipped": pa.array([skipped], pa.int64()), "holdout": pa.array([holdout], pa.int64()),
        "label_counts": pa.array([label_counts], pa.list_(pa.float64())), "error": pa.array([error], pa.string()),
    })  # fmt: skip


def valid_rows_schema(spec: FeatureSpec) -> str:
    """The Spark schema of ``valid_rows``' output for ``spec``."""
    fields = [f"{FEATURES} array<double>"]
    fields += [f"{LABEL} double"] if spec.label_column else []
    fields += [f"{WEIGHT} double"] if spec.weight_column else []
    fields += [f"{VALIDATION} boolean"] if spec.holdout_column else []
    return ", ".join(fields)


def valid_rows(batches: Iterable[pa.RecordBatch], spec: FeatureSpec) -> Iterator[pa.RecordBatch]:
    """Each batch's valid rows: the features as a dense array per row (sparse rows
    densified: xgboost.spark densifies vectors too), the label, weight and validation
    flag where the spec has them."""
    partition = partition_id()
    for batch in batches:
        decoded = decode(dict(zip(batch.schema.names, batch.columns)), spec, partition)
        features = decoded.features
        dense = features.to_dense() if isinstance(features, CSRMatrix) else np.asarray(features)
        offsets = pa.array(np.arange(len(dense) + 1, dtype=np.int32) * spec.n_features)
        columns = {FEATURES: pa.ListArray.from_arrays(offsets, pa.array(np.ravel(dense), pa.float64()))}
        if spec.label_column:
            columns[LABEL] = pa.array(decoded.labels, pa.float64())
        if spec.weight_column:
            columns[WEIGHT] = pa.array(decoded.weights, pa.float64())
        if spec.holdout_column:
            columns[VALIDATION] = pa.array(decoded.holdout, pa.bool_())
        yield pa.RecordBatch.from_pydict(columns)
