"""Scoring: map decoded batches to output columns, keeping rows aligned.

An output whose Arrow type is ``VECTOR_ARROW_TYPE`` becomes a Spark ML vector column (the
scorer returns a dense matrix or a CSRMatrix for it). Rows rejected under handleInvalid='skip' get null outputs (a transform never changes the
row count); under 'error' they raise as in fit.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from sagespark.kernels import Features
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec, decode, encode_vectors
from sagespark.udfs.fold import partition_id

Scorer = Callable[[Features], dict[str, np.ndarray]]


def score_batches(
    batches: Iterable[tuple[pa.Array, ...]],
    spec: FeatureSpec,
    scorer: Scorer,
    output_type: pa.StructType,
) -> Iterator[pa.Array]:
    """For each tuple of input arrays (in ``spec.fields`` order), a struct array with one
    field per scorer output."""
    partition = partition_id()
    for arrays in batches:
        if not isinstance(arrays, (tuple, list)):
            arrays = (arrays,)
        decoded = decode(dict(zip(spec.fields, arrays)), spec, partition)
        yield outputs_struct(scorer(decoded.features), decoded.valid, output_type)


def outputs_struct(outputs: dict[str, np.ndarray], valid: np.ndarray, output_type: pa.StructType) -> pa.StructArray:
    """One struct per row: the outputs (computed for the valid rows only) at the True
    positions of ``valid``, null elsewhere. A list field takes an (n x m) matrix."""
    fields = []
    for field in output_type:
        values = outputs[field.name]
        if field.type == VECTOR_ARROW_TYPE:
            fields.append(encode_vectors(values, valid))
        elif pa.types.is_list(field.type):
            fields.append(_encode_lists(np.asarray(values), valid, field.type))
        else:
            column = np.zeros(len(valid), dtype=values.dtype)
            column[valid] = values
            fields.append(pa.array(column, field.type, mask=~valid))
    return pa.StructArray.from_arrays(fields, fields=list(output_type))


def _encode_lists(matrix: np.ndarray, valid: np.ndarray, list_type: pa.DataType) -> pa.ListArray:
    lengths = np.where(valid, matrix.shape[1] if matrix.ndim == 2 else 0, 0)
    offsets = np.zeros(len(valid) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.array(np.ravel(matrix), list_type.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~valid))
