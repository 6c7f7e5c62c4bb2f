"""Per-partition fold and per-group merge, as Arrow functions for mapInArrow/applyInArrow.

A partition's batches are decoded and fed to one state; the partition yields a single
row (partition, rows, skipped, state bytes), or nothing when it had no rows at all.

Invalid input is data, not a task failure: a partition that finds it yields one row
with the error message (and no state), the merges pass the first error in partition
order on, and the driver raises it as one ValueError (sagespark.spark.fold). So a bad
row costs no retried task and no executor stack trace, and the error reported is the
same every run.
"""

from __future__ import annotations

from functools import reduce
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
from pyspark import TaskContext

from sagespark.states import State, state_from_bytes
from sagespark.udfs import faults
from sagespark.udfs.arrow import FeatureSpec, InvalidInputError, decode

STATE_SCHEMA = "partition int, rows long, skipped long, state binary, error string"
SUMS_SCHEMA = "partition int, sums array<double>, error string"


def shipped_value(data: Any) -> bytes:
    """Bytes shipped to the tasks by ``sagespark.spark.fold.shipped``: the bytes, or the
    broadcast's value."""
    return data if isinstance(data, bytes) else data.value


def partition_start_state(partition: int, start: Any) -> State:
    """The state a partition's fold starts from in a later pass: the serialized state
    of the last merge (``shipped``), made the start of one partition (``for_partition``)."""
    return state_from_bytes(shipped_value(start)).for_partition(partition)


def partition_id() -> int:
    context = TaskContext.get()
    return context.partitionId() if context is not None else 0


def fold_partition(
    batches: Iterable[pa.RecordBatch], spec: FeatureSpec, new_state: Callable[[int], State]
) -> Iterator[pa.RecordBatch]:
    """One state for the whole partition, seeded from the partition index."""
    partition = partition_id()
    state, rows, skipped = None, 0, 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            decoded = decode(dict(zip(batch.schema.names, batch.columns)), spec, partition)
            state = new_state(partition) if state is None else state
            if decoded.labels is None:
                state.update(decoded.features, decoded.weights)
            else:
                state.update(decoded.features, decoded.weights, labels=decoded.labels, holdout=decoded.holdout)
            rows += len(decoded.weights)
            skipped += decoded.skipped
            if faults.inject is not None:
                faults.inject(partition)
    except InvalidInputError as error:
        yield state_row(partition, 0, 0, None, error.message)
        return
    if state is not None:
        yield state_row(partition, rows, skipped, state.partition_result())


def state_row(partition: int, rows: int, skipped: int, state: State | None, error: str | None = None) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "partition": pa.array([partition], pa.int32()),
            "rows": pa.array([rows], pa.int64()),
            "skipped": pa.array([skipped], pa.int64()),
            "state": pa.array([None if state is None else state.to_bytes()], pa.binary()),
            "error": pa.array([error], pa.string()),
        }
    )


def first_error(table: pa.Table) -> str | None:
    """The error of the lowest partition that reported one (None: no error)."""
    errors = table.column("error")
    if errors.null_count == len(errors):
        return None
    partitions, messages = table.column("partition").to_numpy(), errors.to_pylist()
    return min((int(p), m) for p, m in zip(partitions, messages) if m is not None)[1]


def merge_state_rows(table: pa.Table, partition: int) -> tuple[int, int, State]:
    """(rows, skipped, merged state) of state rows, merged in partition order so the
    result does not depend on the order Spark delivers them."""
    order = np.argsort(table.column("partition").to_numpy(), kind="stable")
    states = [state_from_bytes(table.column("state")[int(i)].as_py()) for i in order]
    rows = int(pa.compute.sum(table.column("rows")).as_py() or 0)
    skipped = int(pa.compute.sum(table.column("skipped")).as_py() or 0)
    return rows, skipped, reduce(lambda a, b: a.merge(b), states)


def merge_group(key: tuple, table: pa.Table) -> pa.Table:
    """One tree level: the group's states merged into one row keyed by the group (or the
    group's first error, passed on)."""
    group = int(key[0].as_py() if hasattr(key[0], "as_py") else key[0])
    error = first_error(table)
    if error is not None:
        return pa.Table.from_batches([state_row(group, 0, 0, None, error)])
    rows, skipped, state = merge_state_rows(table, group)
    return pa.Table.from_batches([state_row(group, rows, skipped, state)])


def sum_partition(
    batches: Iterable[pa.RecordBatch],
    spec: FeatureSpec,
    summarize: Callable[[object, np.ndarray], np.ndarray],
) -> Iterator[pa.RecordBatch]:
    """Sum a per-batch vector ``summarize(features, weights)`` over the partition
    (evaluation passes such as the k-means cost); invalid input is a row with the error."""
    partition = partition_id()
    total = None
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            decoded = decode(dict(zip(batch.schema.names, batch.columns)), spec, partition)
            sums = np.asarray(summarize(decoded.features, decoded.weights), dtype=np.float64)
            total = sums if total is None else total + sums
    except InvalidInputError as error:
        yield _sums_row(partition, None, error.message)
        return
    if total is not None:
        yield _sums_row(partition, total.tolist(), None)


def _sums_row(partition: int, sums: list[float] | None, error: str | None) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"partition": pa.array([partition], pa.int32()),
                                       "sums": pa.array([sums], pa.list_(pa.float64())),
                                       "error": pa.array([error], pa.string())})  # fmt: skip
