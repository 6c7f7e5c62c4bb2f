"""Per-partition fold and per-group merge, as Arrow functions for mapInArrow/applyInArrow.

A partition's batches are decoded and fed to one state; the partition yields a single
row (partition, rows, skipped, state bytes), or nothing when it had no rows at all.
"""

from __future__ import annotations

from functools import reduce
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
from pyspark import TaskContext

from sagespark.states import State, state_from_bytes
from sagespark.udfs import faults
from sagespark.udfs.arrow import FeatureSpec, decode

STATE_SCHEMA = "partition int, rows long, skipped long, state binary"
SUMS_SCHEMA = "sums array<double>"


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
    if state is not None:
        yield state_row(partition, rows, skipped, state.partition_result())


def state_row(partition: int, rows: int, skipped: int, state: State) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "partition": pa.array([partition], pa.int32()),
            "rows": pa.array([rows], pa.int64()),
            "skipped": pa.array([skipped], pa.int64()),
            "state": pa.array([state.to_bytes()], pa.binary()),
        }
    )


def merge_state_rows(table: pa.Table, partition: int) -> tuple[int, int, State]:
    """(rows, skipped, merged state) of state rows, merged in partition order so the
    result does not depend on the order Spark delivers them."""
    order = np.argsort(table.column("partition").to_numpy(), kind="stable")
    states = [state_from_bytes(table.column("state")[int(i)].as_py()) for i in order]
    rows = int(pa.compute.sum(table.column("rows")).as_py() or 0)
    skipped = int(pa.compute.sum(table.column("skipped")).as_py() or 0)
    return rows, skipped, reduce(lambda a, b: a.merge(b), states)


def merge_group(key: tuple, table: pa.Table) -> pa.Table:
    """One tree level: the group's states merged into one row keyed by the group."""
    group = int(key[0].as_py() if hasattr(key[0], "as_py") else key[0])
    rows, skipped, state = merge_state_rows(table, group)
    return pa.Table.from_batches([state_row(group, rows, skipped, state)])


def sum_partition(
    batches: Iterable[pa.RecordBatch],
    spec: FeatureSpec,
    summarize: Callable[[object, np.ndarray], np.ndarray],
) -> Iterator[pa.RecordBatch]:
    """Sum a per-batch vector ``summarize(features, weights)`` over the partition
    (evaluation passes such as the k-means cost)."""
    partition = partition_id()
    total = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        decoded = decode(dict(zip(batch.schema.names, batch.columns)), spec, partition)
        sums = np.asarray(summarize(decoded.features, decoded.weights), dtype=np.float64)
        total = sums if total is None else total + sums
    if total is not None:
        yield pa.RecordBatch.from_pydict({"sums": pa.array([total.tolist()], pa.list_(pa.float64()))})
