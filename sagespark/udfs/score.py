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
from sagespark.udfs.fold import _partition_id

Scorer = Callable[[Features], dict[str, np.ndarray]]


def score_batches(
    batches: Iterable[tuple[pa.Array, ...]],
    spec: FeatureSpec,
    scorer: Scorer,
    output_type: pa.StructType,
) -> Iterator[pa.Array]:
    """For each tuple of input arrays (in ``spec.fields`` order), a struct array with one
    field per scorer output."""
    partition = _partition_id()
    for arrays in batches:
        if not isinstance(arrays, (tuple, list)):
            arrays = (arrays,)
        decoded = decode(dict(zip(spec.fields, arrays)), spec, partition)
        outputs = scorer(decoded.features)
        fields = []
        for field in output_type:
            if field.type == VECTOR_ARROW_TYPE:
                fields.append(encode_vectors(outputs[field.name], decoded.valid))
                continue
            column = np.zeros(len(decoded.valid), dtype=outputs[field.name].dtype)
            column[decoded.valid] = outputs[field.name]
            fields.append(pa.array(column, field.type, mask=~decoded.valid))
        yield pa.StructArray.from_arrays(fields, fields=list(output_type))
