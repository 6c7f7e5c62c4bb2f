"""k-nearest neighbours: a mergeable weighted sample of labelled rows, and the search
index finalized from it.

The state (SageMaker's k-NN training) is a weighted reservoir of ``size`` (features,
label) rows (sagespark.states.sampling, A-Res: exact merge). Everything else is
decided at finalize, from the sample alone, so k, the predictor, the projection, the
metric and the index can all change after training:

1. project the sampled rows (none, 'sign' or 'fjlt'; sagespark.kernels.knn), scale
   them to unit norm for COSINE;
2. 'flat': keep the rows; 'ivf': coarse centers from a KMeansState fed the rows and
   finalized at ``nlists`` centers, each row filed under the center with its best score
   (inverted lists, rows stored list by list);
3. search (``KNNIndex.search``): per query block, flat scans every row; ivf scores the
   centers, probes the ``nprobe`` best lists and scans only their rows. Rows are
   identified by their position in the sample, which breaks score ties.

Incremental fits draw their keys from a new ``generation`` of random streams, so the
merged reservoir stays an exact weighted sample of all the data.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from sagespark.kernels import CSRMatrix, Features
from sagespark.kernels.knn import (
    METRICS,
    Projection,
    block_search,
    check_projection,
    empty_top_k,
    row_scores_offsets,
    unit_rows,
)
from sagespark.states.base import AUTO
from sagespark.states.kmeans import KMeansState
from sagespark.states.sampling import ReservoirSample

INDEX_TYPES = ("flat", "ivf")
DENSE_SAMPLE_LIMIT_BYTES = 8 << 30


def generation_seed(seed: int, generation: int) -> int:
    """The reservoir seed of one fit: independent keys for every incremental fit."""
    return int(np.random.SeedSequence([int(seed) % 2**63, generation]).generate_state(1, np.uint64)[0] >> 1)


class KNNSample(ReservoirSample):
    """A weighted reservoir of (features, label) rows; ``generation`` counts the fits
    merged into it (the next incremental fit samples with generation + 1)."""

    kind = "knn_sample"

    def __init__(self, size: int, seed: int = 0, stream_id: int = 0, generation: int = 0) -> None:
        super().__init__(size, seed, stream_id)
        self.generation = int(generation)

    def update(self, x: Features, weights: np.ndarray | None = None, labels: np.ndarray | None = None,
               holdout: np.ndarray | None = None) -> "KNNSample":  # fmt: skip
        if labels is None:
            raise ValueError("a k-NN sample needs a label per row")
        super().update(x, weights, np.asarray(labels, dtype=np.float64)[:, None])
        return self

    def merge(self, other: "ReservoirSample") -> "KNNSample":
        merged = super().merge(other)
        merged.generation = max(self.generation, getattr(other, "generation", 0))
        return merged

    @property
    def labels(self) -> np.ndarray:
        return self.values[:, 0] if self.values.shape[1] else np.zeros(0)

    def finalize(self, config: "IndexConfig | None" = None) -> "KNNIndex":
        if self.features is None:
            raise ValueError("no rows were sampled")
        return build_index(self.features, self.labels, config or IndexConfig())

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {**super().to_arrays(), "generation": np.array(self.generation)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "KNNSample":
        state = super().from_arrays(arrays)
        state.generation = int(arrays["generation"])
        return state


@dataclass(frozen=True)
class IndexConfig:
    """What finalize builds from the sample (every field can change without data)."""

    reduction: str = "none"  # 'none' | 'sign' | 'fjlt'
    target: int = 0  # projected dimension, for 'sign' and 'fjlt'
    metric: str = "L2"
    index_type: str = "flat"
    nlists: str | int = AUTO  # 'auto' = round(sqrt(sampled rows))
    seed: int = 0

    def check(self, n_features: int) -> None:
        check_projection(self.reduction, n_features, self.target)
        if self.metric not in METRICS:
            raise ValueError(f"indexMetric must be one of {METRICS}, got {self.metric!r}")
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"indexType must be one of {INDEX_TYPES}, got {self.index_type!r}")
        if str(self.nlists) != AUTO and int(self.nlists) < 1:
            raise ValueError(f"ivfNlists must be 'auto' or >= 1, got {self.nlists!r}")

    def projection(self, n_features: int) -> Projection | None:
        if self.reduction == "none":
            return None
        return Projection(self.reduction, n_features, self.target, self.seed)

    def resolved_nlists(self, rows: int) -> int:
        wanted = max(1, round(math.sqrt(rows))) if str(self.nlists) == AUTO else int(self.nlists)
        return min(wanted, rows)


@dataclass(frozen=True)
class KNNIndex:
    """A finalized index: the (projected) sample rows in list order, their score
    offsets, ids (positions in the sample) and labels, and for ivf the coarse centers
    and where each list's rows start (``list_offsets``, nlists + 1 entries)."""

    metric: str
    n_features: int  # of the queries, before projection
    projection: Projection | None
    vectors: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    centers: np.ndarray | None = None
    list_offsets: np.ndarray | None = None  # where each list's rows start (nlists + 1)
    list_sizes: np.ndarray | None = None  # rows per list in the whole index (kept by shards)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def nlists(self) -> int:
        return 1 if self.centers is None else len(self.centers)

    @property
    def nbytes(self) -> int:
        return self.vectors.nbytes + 3 * 8 * self.size

    def prepare(self, x: Features) -> np.ndarray:
        """Queries in the index's space: projected, and unit norm for COSINE."""
        q = self.projection.apply(x) if self.projection is not None else _dense(x)
        return unit_rows(q) if self.metric == "COSINE" else np.ascontiguousarray(q, dtype=np.float64)

    def search(self, x: Features, k: int, nprobe: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, ids, ||q||^2) of each query's k nearest rows, nearest first: scores
        as in sagespark.kernels.knn (``distances`` gives the user-facing values), and the
        squared norm of each query in the index's space. Fewer than k candidates (a
        shard) leave +inf scores and NO_ID ids."""
        q = self.prepare(x)
        scores, ids = empty_top_k(len(q), k)
        if self.centers is None:
            block_search(q, self.vectors, self.offsets, self.ids, self.metric, scores, ids)
        else:
            self._search_lists(q, k, nprobe, scores, ids)
        return scores, ids, np.einsum("ij,ij->i", q, q)

    def _search_lists(self, q: np.ndarray, k: int, nprobe: int, scores: np.ndarray, ids: np.ndarray) -> None:
        """Probe each query's lists (``probes``), then scan each list once for all the
        queries probing it."""
        lists, query_of = self.probes(q, k, nprobe)
        order = np.argsort(lists, kind="stable")
        bounds = np.searchsorted(lists[order], np.arange(self.nlists + 1))
        for lst in range(self.nlists):
            lo, hi = self.list_offsets[lst], self.list_offsets[lst + 1]
            if lo == hi or bounds[lst] == bounds[lst + 1]:
                continue
            rows = query_of[order[bounds[lst] : bounds[lst + 1]]]
            block_search(q[rows], self.vectors[lo:hi], self.offsets[lo:hi], self.ids[lo:hi], self.metric,
                         scores, ids, query_rows=rows)  # fmt: skip

    def probes(self, q: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """(list, query) pairs to scan: each query's best-scoring lists, the nprobe best
        and then more, in score order, until they hold at least k rows of the whole
        index (``list_sizes``), so every query gets k neighbours and a shard probes
        exactly what the whole index would."""
        m = min(max(nprobe, 1), self.nlists)
        while True:
            probe_scores, probes = empty_top_k(len(q), m)
            block_search(q, self.centers, row_scores_offsets(self.centers, self.metric),
                         np.arange(self.nlists, dtype=np.int64), self.metric, probe_scores, probes)  # fmt: skip
            covered = np.cumsum(self.list_sizes[probes], axis=1)
            if m == self.nlists or (covered[:, -1] >= k).all():
                break
            m = min(self.nlists, 2 * m)
        enough = np.argmax(covered >= k, axis=1) + 1  # the shortest prefix holding k rows
        enough = np.where(covered[:, -1] >= k, enough, m)
        use = np.arange(m)[None, :] < np.maximum(enough, min(nprobe, m))[:, None]
        return probes[use], np.nonzero(use)[0].astype(np.int64)

    def distances(self, scores: np.ndarray, q_sq: np.ndarray) -> np.ndarray:
        return distances(self.metric, scores, q_sq)

    def labels_of(self, ids: np.ndarray) -> np.ndarray:
        """The labels of rows given by id; NaN for an id this index (or shard) does not
        hold, such as NO_ID."""
        position = np.minimum(np.searchsorted(self.ids, ids, sorter=self._id_order), self.size - 1)
        rows = self._id_order[position]
        return np.where(self.ids[rows] == ids, self.labels[rows], np.nan)

    @cached_property
    def _id_order(self) -> np.ndarray:
        return np.argsort(self.ids, kind="stable")

    # ---------------------------------------------------------- shards and bytes
    def shards(self, max_bytes: int) -> list["KNNIndex"]:
        """The index cut into contiguous row ranges of at most ~max_bytes each (ivf:
        whole lists; a list bigger than max_bytes is its own shard). Searching every
        shard and merging the top-k lists gives this index's result."""
        row_bytes = self.nbytes / max(self.size, 1)
        per_shard = max(1, int(max_bytes // max(row_bytes, 1)))
        if self.list_offsets is not None:
            edges = self.list_offsets
        else:
            edges = np.append(np.arange(0, self.size, per_shard), self.size)
        cuts = [0]
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi - cuts[-1] > per_shard and lo > cuts[-1]:
                cuts.append(int(lo))
        cuts.append(self.size)
        return [self._rows(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:])]

    def _rows(self, lo: int, hi: int) -> "KNNIndex":
        list_offsets = None
        if self.list_offsets is not None:
            list_offsets = np.clip(self.list_offsets, lo, hi) - lo
        return replace(self, vectors=self.vectors[lo:hi], offsets=self.offsets[lo:hi], ids=self.ids[lo:hi],
                       labels=self.labels[lo:hi], list_offsets=list_offsets)  # fmt: skip

    def to_bytes(self) -> bytes:
        arrays = {
            "metric": np.array(self.metric), "n_features": np.array(self.n_features), "vectors": self.vectors,
            "offsets": self.offsets, "ids": self.ids, "labels": self.labels,
        }  # fmt: skip
        if self.projection is not None:
            p = self.projection
            arrays.update(projection=np.array(p.kind), target=np.array(p.target), seed=np.array(p.seed))
        if self.centers is not None:
            arrays.update(centers=self.centers, list_offsets=self.list_offsets, list_sizes=self.list_sizes)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "KNNIndex":
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            a = {name: npz[name] for name in npz.files}
        n_features = int(a["n_features"])
        projection = None
        if "projection" in a:
            projection = Projection(str(a["projection"]), n_features, int(a["target"]), int(a["seed"]))
        return cls(str(a["metric"]), n_features, projection, a["vectors"], a["offsets"], a["ids"], a["labels"],
                   a.get("centers"), a.get("list_offsets"), a.get("list_sizes"))  # fmt: skip


def distances(metric: str, scores: np.ndarray, q_sq: np.ndarray) -> np.ndarray:
    """User-facing values of scores: the Euclidean distance for L2 (||q||^2 added back),
    the inner product or cosine similarity otherwise."""
    if metric == "L2":
        return np.sqrt(np.maximum(scores + q_sq[:, None], 0.0))
    return -scores


def build_index(features: Features, labels: np.ndarray, config: IndexConfig) -> KNNIndex:
    """The index of a sample (rows in sample order, so a row's id is its position)."""
    n, d = features.shape
    config.check(d)
    projection = config.projection(d)
    if projection is None and isinstance(features, CSRMatrix) and 8 * n * d > DENSE_SAMPLE_LIMIT_BYTES:
        raise ValueError(
            f"the sample is sparse with {d} features: a dense index of {n} x {d} would take "
            f"{8 * n * d / 2**30:.1f} GiB; set dimensionReductionType='sign' and a dimensionReductionTarget"
        )
    vectors = projection.apply(features) if projection is not None else _dense(features)
    if config.metric == "COSINE":
        vectors = unit_rows(vectors)
    ids = np.arange(n, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.float64)
    base = KNNIndex(config.metric, d, projection, vectors, row_scores_offsets(vectors, config.metric), ids, labels)
    if config.index_type == "flat":
        return base
    return _inverted_lists(base, config.resolved_nlists(n), config.seed)


def _inverted_lists(flat: KNNIndex, nlists: int, seed: int) -> KNNIndex:
    """Coarse centers by sagespark's streaming KMeans over the rows, finalized at nlists
    (fewer when the rows hold fewer distinct points); each row goes to the list whose
    center scores best under the metric."""
    quantizer = KMeansState(nlists, seed=seed, init_method="kmeans++").update(flat.vectors)
    nlists = min(nlists, int((quantizer.weights > 0).sum()))  # fewer distinct rows than lists
    centers = quantizer.finalize(nlists, num_trials=1, seed=seed).centers
    if flat.metric == "COSINE":
        centers = unit_rows(centers)
    scores, lists = empty_top_k(flat.size, 1)
    block_search(flat.vectors, centers, row_scores_offsets(centers, flat.metric), np.arange(nlists, dtype=np.int64),
                 flat.metric, scores, lists)  # fmt: skip
    order = np.argsort(lists[:, 0], kind="stable")
    list_offsets = np.searchsorted(lists[order, 0], np.arange(nlists + 1)).astype(np.int64)
    return replace(flat, vectors=flat.vectors[order], offsets=flat.offsets[order], ids=flat.ids[order],
                   labels=flat.labels[order], centers=centers, list_offsets=list_offsets,
                   list_sizes=np.diff(list_offsets))  # fmt: skip


def _dense(x: Features) -> np.ndarray:
    return x.to_dense() if isinstance(x, CSRMatrix) else np.ascontiguousarray(x, dtype=np.float64)
