"""Arrow batches -> numpy features, with no per-row Python.

The driver (``sagespark.spark.features``) selects the feature column as up to four
aliased columns so that workers never see Spark's VectorUDT struct with its null
``indices`` list (measured ~4x slower for dense rows):

- ``TYPE``    int8, 1 = dense, 0 = sparse (vector columns only)
- ``SIZE``    int32, the sparse vector's size, -1 for dense rows (vector columns only)
- ``INDICES`` list<int32>, empty for dense rows (vector columns only)
- ``VALUES``  list<double>: the vector's values, the array, or the assembled columns;
  list<string> for token input (``FeatureSpec.tokens``), decoded as a
  :class:`~sagespark.kernels.tokens.Tokens` batch
- ``WEIGHT``  double, when a weight column is set
- ``LABEL``   double, for supervised stages (``FeatureSpec.label_column``)
- ``HOLDOUT`` boolean, true for validation rows (``FeatureSpec.holdout_column``)

Dense-only batches become a (rows x d) float64 matrix viewed straight from the Arrow
values buffer; a batch with any sparse row becomes a CSR matrix (never densified).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pyarrow as pa

from sagespark.kernels import CSRMatrix, Features
from sagespark.kernels.tokens import Tokens

TYPE, SIZE, INDICES, VALUES, WEIGHT = "_ss_type", "_ss_size", "_ss_indices", "_ss_values", "_ss_w"
LABEL, HOLDOUT = "_ss_label", "_ss_holdout"
INVALID_INPUT_MARKER = "[sagespark.invalid_input]"
HANDLE_INVALID = ("error", "skip")
CLASS_INDEX_LABELS = -1  # FeatureSpec.num_classes: labels are class indices 0, 1, 2, ... (count unknown)


class InvalidInputError(ValueError):
    """Bad input found in a worker; the driver re-raises the message as a ValueError."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{INVALID_INPUT_MARKER} {message}")
        self.message = message


@dataclass(frozen=True)
class FeatureSpec:
    """What a worker needs to decode a batch: the layout, the expected dimension,
    the names to report in errors, and the invalid-row policy."""

    is_vector: bool  # False: list<double> only (array column or assembled featuresCols)
    n_features: int
    column: str  # as named to the user in error messages
    weight_column: str | None = None
    handle_invalid: str = "error"
    label_column: str | None = None
    num_classes: int = 0  # labels must be integers 0..num_classes-1; 0: any finite value; CLASS_INDEX_LABELS
    holdout_column: str | None = None  # as named to the user
    counts: bool = False  # values must be non-negative integers (term counts: spectral LDA)
    tokens: bool = False  # VALUES is list<string> (words); decoded as Tokens, any length
    nan_is_missing: bool = False  # NaN values are valid (missing values: XGBoost's handleInvalid='keep')

    @property
    def fields(self) -> tuple[str, ...]:
        names = (TYPE, SIZE, INDICES, VALUES) if self.is_vector else (VALUES,)
        names += (WEIGHT,) if self.weight_column else ()
        names += (LABEL,) if self.label_column else ()
        return names + ((HOLDOUT,) if self.holdout_column else ())


@dataclass(frozen=True)
class DecodedBatch:
    features: Features  # valid rows only
    weights: np.ndarray  # one per valid row
    valid: np.ndarray  # bool mask over the batch's rows
    skipped: int
    labels: np.ndarray | None = None  # one per valid row, when the spec has a label
    holdout: np.ndarray | None = None  # bool per valid row: a validation row


def decode(columns: Mapping[str, pa.Array], spec: FeatureSpec, partition: int) -> DecodedBatch:
    """Decode one batch, enforcing ``spec.handle_invalid`` on null rows, NaN/inf values,
    wrong dimensions and bad weights."""
    values = columns[VALUES]
    offsets = np.asarray(values.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    null = np.asarray(values.is_null())
    if spec.tokens:
        flat = values.values
        bad_dim = np.zeros(len(values), dtype=bool)
        dims = lengths
        non_finite = ~null & _rows_with(np.asarray(flat.slice(offsets[0], offsets[-1] - offsets[0]).is_null()), offsets)
    else:
        flat = values.values.to_numpy(zero_copy_only=False)  # null elements become NaN
        bad_dim, dims, non_finite, types = _numeric_checks(columns, spec, flat, offsets, lengths, null)
    invalid = null | bad_dim | non_finite
    bad_count = None
    if spec.counts:
        stored = flat[offsets[0] : offsets[-1]]
        bad_count = ~invalid & _rows_with((stored < 0) | (stored != np.floor(stored)), offsets)
        invalid |= bad_count
    weights = np.ones(len(values))
    if spec.weight_column:
        weights, bad_weight = row_weights(columns[WEIGHT])
        bad_weight &= ~invalid
        invalid |= bad_weight
    labels = bad_label = None
    if spec.label_column:
        labels = columns[LABEL].to_numpy(zero_copy_only=False).astype(np.float64)  # null -> NaN
        bad_label = ~invalid & ~_valid_labels(labels, spec.num_classes)
        invalid |= bad_label
    if spec.handle_invalid == "error" and invalid.any():
        _raise_invalid(spec, partition, null, bad_dim, dims, non_finite, bad_count, invalid, labels, bad_label)
    valid = ~invalid
    rows = np.flatnonzero(valid)
    if spec.tokens:
        features = _tokens(flat, offsets, rows)
    elif spec.is_vector and (types[rows] == 0).any():
        features = _csr(flat, offsets, lengths, rows, types, columns[INDICES], spec.n_features)
    else:
        features = _dense(flat, offsets, rows, spec.n_features, all_valid=len(rows) == len(valid))
    holdout = None
    if spec.holdout_column:
        holdout = np.asarray(columns[HOLDOUT].fill_null(False), dtype=bool)[rows]
    labels = None if labels is None else labels[rows]
    return DecodedBatch(features, weights[rows], valid, int(invalid.sum()), labels, holdout)


def _numeric_checks(columns, spec, flat, offsets, lengths, null):
    """(rows of the wrong dimension, each row's dimension, rows with NaN (unless
    ``spec.nan_is_missing``) or infinity, the vector rows' types or None); marks rows
    with a null vector type in ``null``."""
    types = None
    if spec.is_vector:
        types = np.asarray(columns[TYPE].fill_null(-1), dtype=np.int8)
        sizes = np.asarray(columns[SIZE].fill_null(-1), dtype=np.int64)
        null |= types < 0
        dims = np.where(types == 0, sizes, lengths)
    else:
        dims = lengths
    bad_dim = ~null & (dims != spec.n_features)
    stored = flat[offsets[0] : offsets[-1]]
    non_finite = ~null & _rows_with(np.isinf(stored) if spec.nan_is_missing else ~np.isfinite(stored), offsets)
    return bad_dim, dims, non_finite, types


def _tokens(flat: pa.Array, offsets: np.ndarray, rows: np.ndarray) -> Tokens:
    """The valid rows' tokens (all rows: a zero-copy slice of the Arrow strings)."""
    whole = Tokens(offsets - offsets[0], flat.slice(offsets[0], offsets[-1] - offsets[0]))
    return whole if len(rows) == whole.num_rows else whole.take(rows)


def _valid_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    finite = np.isfinite(labels)
    if num_classes == 0:
        return finite
    index = finite & (labels >= 0) & (labels == np.floor(labels))
    return index if num_classes == CLASS_INDEX_LABELS else index & (labels < num_classes)


def _label_expectation(num_classes: int) -> str:
    if num_classes == 0:
        return "a finite number"
    if num_classes == CLASS_INDEX_LABELS:
        return "a class index (an integer >= 0)"
    if num_classes == 2:
        return "0 or 1"
    return f"an integer in 0..{num_classes - 1} (numClasses={num_classes})"


def _rows_with(bad: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per row, whether any of its stored values (``bad``: one flag per stored value
    from offsets[0] on) is flagged."""
    if not bad.any():
        return np.zeros(len(offsets) - 1, dtype=bool)
    cumulative = np.concatenate([[0], np.cumsum(bad)])
    relative = offsets - offsets[0]
    return cumulative[relative[1:]] > cumulative[relative[:-1]]


BAD_WEIGHT = "have a null, negative, NaN or infinite weight"


def row_weights(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(a weight column as float64, the rows whose weight is invalid: null, negative,
    NaN or infinite; see BAD_WEIGHT)."""
    weights = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return weights, np.asarray(column.is_null()) | ~(np.isfinite(weights) & (weights >= 0))


def _raise_invalid(spec, partition, null, bad_dim, dims, non_finite, bad_count, invalid, labels, bad_label) -> None:
    if null.any():
        column, problem = spec.column, f"{int(null.sum())} row(s) are null"
    elif bad_dim.any():
        found = int(dims[np.argmax(bad_dim)])
        problem = f"{int(bad_dim.sum())} row(s) have dimension {found}, expected {spec.n_features}"
        column = spec.column
    elif non_finite.any():
        what = "null tokens" if spec.tokens else "infinity" if spec.nan_is_missing else "NaN or infinity"
        column, problem = spec.column, f"{int(non_finite.sum())} row(s) contain {what}"
    elif bad_count is not None and bad_count.any():
        column = spec.column
        problem = f"{int(bad_count.sum())} row(s) hold a negative or non-integer value, expected term counts"
    elif bad_label is not None and bad_label.any():
        found = labels[np.argmax(bad_label)]
        column = spec.label_column
        problem = (
            f"{int(bad_label.sum())} row(s) have an invalid label (first: {'null or NaN' if np.isnan(found) else found}), "
            f"expected {_label_expectation(spec.num_classes)}"
        )
    else:
        column = spec.weight_column
        problem = f"{int(invalid.sum())} row(s) {BAD_WEIGHT}"
    raise InvalidInputError(
        f"column '{column}', partition {partition}: {problem}. "
        "Set handleInvalid='skip' to drop such rows and count them."
    )


def _dense(flat, offsets, rows, n_features, all_valid) -> np.ndarray:
    if all_valid:  # zero-copy view of the Arrow buffer
        return flat[offsets[0] : offsets[-1]].reshape(len(rows), n_features)
    positions = offsets[rows][:, None] + np.arange(n_features)
    return flat[positions]


def _csr(flat, offsets, lengths, rows, types, indices_column, n_features) -> CSRMatrix:
    """Valid rows as CSR: a sparse row keeps its (indices, values); a dense row's values
    sit at columns 0..d-1."""
    nnz = lengths[rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(nnz, out=indptr[1:])
    local = np.arange(indptr[-1]) - np.repeat(indptr[:-1], nnz)
    data = flat[np.repeat(offsets[rows], nnz) + local]
    index_offsets = np.asarray(indices_column.offsets, dtype=np.int64)
    index_flat = indices_column.values.to_numpy(zero_copy_only=False)
    sparse_value = np.repeat(types[rows] == 0, nnz)
    indices = local.astype(np.int32)
    if sparse_value.any():
        gather = np.repeat(index_offsets[rows], nnz) + local
        indices[sparse_value] = index_flat[gather[sparse_value]]
    return CSRMatrix(indptr, indices, np.ascontiguousarray(data), n_features)


# Spark ML's VectorUDT stores a vector as this struct (type 0 = sparse, 1 = dense).
VECTOR_ARROW_TYPE = pa.struct(
    [
        pa.field("type", pa.int8(), nullable=False),
        pa.field("size", pa.int32()),
        pa.field("indices", pa.list_(pa.int32())),
        pa.field("values", pa.list_(pa.float64())),
    ]
)


def encode_vectors(x: Features, valid: np.ndarray) -> pa.StructArray:
    """Rows of ``x`` as VectorUDT structs (dense rows -> DenseVector, CSR rows ->
    SparseVector), placed at the True positions of ``valid``; null elsewhere."""
    n = len(valid)
    rows = np.flatnonzero(valid)
    if isinstance(x, CSRMatrix):
        lengths = np.zeros(n, dtype=np.int64)
        lengths[rows] = np.diff(x.indptr)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        values = pa.ListArray.from_arrays(pa.array(offsets), pa.array(x.data, pa.float64()))
        indices = pa.ListArray.from_arrays(pa.array(offsets), pa.array(x.indices, pa.int32()))
        kind, size = np.zeros(n, np.int8), pa.array(np.full(n, x.n_cols, np.int32))
    else:
        d = x.shape[1]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.where(valid, d, 0), out=offsets[1:])
        values = pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.ravel(x), pa.float64()))
        indices = pa.nulls(n, pa.list_(pa.int32()))
        kind, size = np.ones(n, np.int8), pa.nulls(n, pa.int32())
    return pa.StructArray.from_arrays(
        [pa.array(kind), size, indices, values], fields=list(VECTOR_ARROW_TYPE), mask=pa.array(~valid)
    )
