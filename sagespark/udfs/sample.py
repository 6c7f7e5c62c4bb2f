"""Per-partition weighted reservoir of whole Arrow rows, for ``sagespark.stat.sample``.

Each partition keeps the rows with the n largest A-Res keys (see
sagespark.states.sampling) and emits them with their key; the n largest keys over all
partitions are then the sample of the whole dataset.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

from sagespark.states.sampling import sampling_keys, top_keys
from sagespark.udfs.arrow import BAD_WEIGHT, InvalidInputError, row_weights
from sagespark.udfs.fold import partition_id

SAMPLE_KEY = "_sagespark_sample_key"


def _weights(batch: pa.RecordBatch, weight_column: str | None, partition: int) -> np.ndarray:
    if weight_column is None:
        return np.ones(batch.num_rows)
    w, bad = row_weights(batch.column(weight_column))
    if bad.any():
        raise InvalidInputError(f"weight column '{weight_column}', partition {partition}: {int(bad.sum())} row(s) {BAD_WEIGHT}")
    return w


def sample_partition(
    batches: Iterable[pa.RecordBatch], n: int, weight_column: str | None, seed: int
) -> Iterator[pa.RecordBatch]:
    partition = partition_id()
    kept, kept_keys, batch_index = None, np.zeros(0), 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        rng = np.random.default_rng([seed, partition, batch_index])
        batch_index += 1
        keys = np.concatenate([kept_keys, sampling_keys(_weights(batch, weight_column, partition), rng)])
        table = pa.Table.from_batches([batch]) if kept is None else pa.concat_tables([kept, pa.Table.from_batches([batch])])
        keep = top_keys(keys, n)
        kept, kept_keys = table.take(pa.array(keep)), keys[keep]
    if kept is not None and kept.num_rows:
        yield from kept.append_column(SAMPLE_KEY, pa.array(kept_keys, pa.float64())).to_batches()
