"""k-NN search in the Python workers (sagespark.algorithms.knn builds the queries).

Two paths, as the model chooses:

- local: every task searches the whole index (``local_neighbours``), which arrives once
  per worker process (``ShippedIndex``: a Spark broadcast, or bytes inside the pickled
  function where there is no SparkContext) and is decoded once and kept;
- sharded: every shard meets every query in one task (``shard_neighbours``, a cogroup
  on the shard id), and a query's per-shard top-k lists are merged by
  ``merge_shard_lists`` (top-k is mergeable).

The predictors turn (distances, neighbour labels) into outputs: ``knn_vote`` for the
classifier, ``knn_mean`` for the regressor.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa

from sagespark.kernels import Features
from sagespark.kernels.knn import top_k_order, vote
from sagespark.states.knn import KNNIndex, distances
from sagespark.udfs.arrow import FeatureSpec, decode
from sagespark.udfs.fold import partition_id, shipped_value
from sagespark.udfs.score import outputs_struct

QUERY_ID = "_ss_qid"
SHARD_SCHEMA = f"{QUERY_ID} long, q_sq double, scores array<double>, ids array<long>, labels array<double>"
_WORKER_INDEXES: dict[str, KNNIndex] = {}
_WORKER_INDEX_SLOTS = 2


class ShippedIndex:
    """An index as the workers receive it: ``token`` names it, ``data`` is its bytes or
    a broadcast of them (made on the driver). ``get`` decodes it once per worker
    process and keeps the last ``_WORKER_INDEX_SLOTS`` indexes."""

    def __init__(self, token: str, data: Any) -> None:
        self.token, self.data = token, data

    def get(self) -> KNNIndex:
        index = _WORKER_INDEXES.get(self.token)
        if index is None:
            index = KNNIndex.from_bytes(shipped_value(self.data))
            while len(_WORKER_INDEXES) >= _WORKER_INDEX_SLOTS:
                _WORKER_INDEXES.pop(next(iter(_WORKER_INDEXES)))
            _WORKER_INDEXES[self.token] = index
        return index


def knn_vote(distances: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """The classifier's outputs: votes per class, their share, the most voted class."""
    votes = vote(labels, num_classes)
    return {"raw": votes, "probability": votes / labels.shape[1], "prediction": np.argmax(votes, axis=1).astype(float)}


def knn_mean(distances: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The regressor's output: the mean label of the k neighbours."""
    return {"prediction": labels.mean(axis=1)}


def local_neighbours(x: Features, index: ShippedIndex, k: int, nprobe: int, predict: Callable) -> dict:
    """The scorer of the local path: ``predict``'s outputs, the distances and labels."""
    idx = index.get()
    scores, ids, q_sq = idx.search(x, k, nprobe)
    found, labels = idx.distances(scores, q_sq), idx.labels_of(ids)
    return _with_neighbours(predict(found, labels), found, labels)


def _with_neighbours(outputs: dict, found: np.ndarray, labels: np.ndarray) -> dict:
    return {**outputs, "distances": found, "labels": labels}


def shard_neighbours(queries: pa.Table, shard: pa.Table, spec: FeatureSpec, k: int, nprobe: int) -> pa.Table:
    """One shard's top-k (scores, ids, labels; padded with +inf / NO_ID / NaN when the
    shard has fewer candidates) of every valid query, with the query's ||q||^2
    (rows of SHARD_SCHEMA)."""
    parts = [pa.table({QUERY_ID: pa.array([], pa.int64()), "q_sq": pa.array([], pa.float64()),
                       "scores": _lists(np.zeros((0, k))), "ids": _lists(np.zeros((0, k), np.int64)),
                       "labels": _lists(np.zeros((0, k)))})]  # fmt: skip
    if queries.num_rows and shard.num_rows:
        index = KNNIndex.from_bytes(shard.column("index")[0].as_py())
        for batch in queries.to_batches(max_chunksize=16384):
            decoded = decode({name: batch.column(name) for name in spec.fields}, spec, partition_id())
            scores, ids, q_sq = index.search(decoded.features, k, nprobe)
            labels = index.labels_of(ids)
            qid = batch.column(QUERY_ID).to_numpy()[decoded.valid]
            parts.append(pa.table({QUERY_ID: qid, "q_sq": q_sq, "scores": _lists(scores),
                                   "ids": _lists(ids), "labels": _lists(labels)}))  # fmt: skip
    return pa.concat_tables(parts)


def _lists(matrix: np.ndarray) -> pa.ListArray:
    n, k = matrix.shape
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)), pa.array(matrix.ravel()))


def merge_shard_lists(
    batches: Iterator[tuple[pa.Array, ...]], output_type: pa.StructType, k: int, metric: str, predict: Callable
) -> Iterator[pa.Array]:
    """Per row: the k best of the shards' lists (scores, ids and labels flattened, all
    shards' k entries each; null for rows skipped as invalid), then the outputs."""
    for q_sq, scores, ids, labels in batches:
        valid = np.asarray(scores.is_valid())
        n = int(valid.sum())
        scores, ids, labels = (_matrix(a, valid, n) for a in (scores, ids, labels))
        order = top_k_order(scores, ids, k)
        best = np.take_along_axis(scores, order, 1)
        neighbour_labels = np.take_along_axis(labels, order, 1)
        squares = q_sq.to_numpy(zero_copy_only=False)[valid]
        found = distances(metric, best, squares)
        outputs = _with_neighbours(predict(found, neighbour_labels), found, neighbour_labels)
        yield outputs_struct(outputs, valid, output_type)


def _matrix(lists: pa.Array, valid: np.ndarray, n: int) -> np.ndarray:
    return lists.filter(pa.array(valid)).flatten().to_numpy(zero_copy_only=False).reshape(n, -1)
