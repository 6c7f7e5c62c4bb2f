"""Streaming quantiles: KLL sketches (mergeable, with a rank-error guarantee).

The exact median of a stream needs the whole stream. The KLL sketch (Karnin, Lang &
Liberty 2016) keeps O(k) items in compactors of growing weight and answers any
quantile with normalized rank error eps ~ 1.7 / k (Apache DataSketches' a-priori bound,
99% confidence); two sketches merge into a sketch of the union with the same bound. We
use DataSketches' implementation, whose serialized bytes are the ones Spark SQL's
``kll_sketch_agg_double`` produces and ``kll_sketch_get_quantile_double`` reads.
"""

from __future__ import annotations

import numpy as np
from datasketches import kll_doubles_sketch

from sagespark.kernels import CSRMatrix, Features
from sagespark.states.base import State

DEFAULT_K = 200  # DataSketches' and Spark SQL's default


def rank_error(k: int) -> float:
    """DataSketches' a-priori normalized rank error of a KLL sketch with parameter k
    (for a single quantile query, 99% confidence)."""
    return float(kll_doubles_sketch.get_normalized_rank_error(int(k), False))


def k_for_rank_error(error: float) -> int:
    """The smallest k whose a-priori rank error is <= ``error`` (k in [8, 65535])."""
    if not 0 < error < 1:
        raise ValueError(f"the rank error must be in (0, 1), got {error}")
    low, high = 8, 65535
    if rank_error(high) > error:
        raise ValueError(f"no KLL sketch reaches a rank error of {error} (k <= 65535)")
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if rank_error(mid) > error else (low, mid)
    return low


def _check_unit_weights(weights: np.ndarray | None, what: str) -> None:
    if weights is not None and np.any(np.asarray(weights) != 1.0):
        raise ValueError(f"{what} count rows: row weights other than 1 are not supported")


def _columns(x: Features):
    """(j, values of column j in this batch) for every column, implicit zeros included."""
    n, d = x.shape
    if not isinstance(x, CSRMatrix):
        dense = np.asfortranarray(x, dtype=np.float64)
        for j in range(d):
            yield j, dense[:, j]
        return
    order = np.argsort(x.indices, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(x.indices, minlength=d))])
    values = x.data[order]
    for j in range(d):
        stored = values[bounds[j] : bounds[j + 1]]
        yield j, np.concatenate([stored, np.zeros(n - len(stored))])


class QuantileSketches(State):
    """One KLL sketch per column (or vector dimension). Rows count once each: the
    sketches take no weights."""

    kind = "quantile_sketches"

    def __init__(self, k: int = DEFAULT_K, n_features: int = -1) -> None:
        if not 8 <= int(k) <= 65535:
            raise ValueError(f"the KLL parameter k must be in [8, 65535], got {k}")
        self.k = int(k)
        self.n_features = int(n_features)
        self.sketches = [kll_doubles_sketch(self.k) for _ in range(max(self.n_features, 0))]

    def update(self, x: Features, weights: np.ndarray | None = None) -> "QuantileSketches":
        _check_unit_weights(weights, "quantile sketches")
        n, d = x.shape
        if n == 0:
            return self
        if self.n_features < 0:
            self.n_features = d
            self.sketches = [kll_doubles_sketch(self.k) for _ in range(d)]
        elif d != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {d}")
        for j, values in _columns(x):
            # datasketches takes only writable contiguous float64 arrays; a batch decoded
            # from Arrow may be a read-only view (one row, one column)
            self.sketches[j].update(np.require(values, np.float64, ["C_CONTIGUOUS", "WRITEABLE"]))
        return self

    def merge(self, other: "QuantileSketches") -> "QuantileSketches":
        if not isinstance(other, QuantileSketches):
            raise TypeError(f"cannot merge quantile sketches with {type(other).__name__}")
        merged = self.copy()
        if other.n_features < 0:
            return merged
        if merged.n_features < 0:
            return other.copy()
        if other.n_features != merged.n_features:
            raise ValueError(
                f"cannot merge sketches of {merged.n_features} and {other.n_features} columns"
            )
        for mine, theirs in zip(merged.sketches, other.sketches):
            mine.merge(theirs)
        return merged

    def merge_sql_sketches(self, sketches: list[bytes]) -> "QuantileSketches":
        """A new state with Spark SQL ``kll_sketch_agg_double`` sketches (one per column,
        in column order) merged in."""
        return self.merge(QuantileSketches.from_sql_sketches(sketches, self.k))

    @classmethod
    def from_sql_sketches(cls, sketches: list[bytes | None], k: int = DEFAULT_K) -> "QuantileSketches":
        """The state of Spark SQL sketches, one per column (None: the column had no value)."""
        state = cls(k, len(sketches))
        state.sketches = [kll_doubles_sketch(state.k) if b is None else kll_doubles_sketch.deserialize(bytes(b))
                          for b in sketches]  # fmt: skip
        return state

    def to_sql_sketches(self) -> list[bytes]:
        """Each column's sketch as Spark SQL's KLL double sketch bytes."""
        return [bytes(s.serialize()) for s in self.sketches]

    def copy(self) -> "QuantileSketches":
        return QuantileSketches.from_arrays(self.to_arrays())

    @property
    def rank_error(self) -> float:
        """The a-priori normalized rank error of every reported quantile. A merged
        sketch with a smaller k (e.g. from SQL) bounds the error with its own k."""
        return rank_error(min([s.k for s in self.sketches] + [self.k]))

    def counts(self) -> np.ndarray:
        return np.array([s.n for s in self.sketches], dtype=np.int64)

    def finalize(self, probabilities: list[float] | np.ndarray = (0.5,)) -> np.ndarray:
        """Quantiles, shape (columns, len(probabilities)); NaN for a column with no rows.

        The p-quantile is the smallest retained item q whose inclusive rank (the
        fraction of items <= q) is >= p: numpy's ``inverted_cdf``, and the definition
        Spark SQL's ``kll_sketch_get_quantile_double`` uses."""
        probabilities = [float(p) for p in probabilities]
        bad = [p for p in probabilities if not 0.0 <= p <= 1.0]
        if bad:
            raise ValueError(f"probabilities must be in [0, 1], got {bad}")
        out = np.full((len(self.sketches), len(probabilities)), np.nan)
        for j, sketch in enumerate(self.sketches):
            if not sketch.is_empty():
                out[j] = sketch.get_quantiles(probabilities, True)  # inclusive, as Spark SQL
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        blobs = [np.frombuffer(bytes(s.serialize()), dtype=np.uint8) for s in self.sketches]
        return {
            "k": np.array(self.k),
            "n_features": np.array(self.n_features),
            "sketch_bytes": np.concatenate(blobs) if blobs else np.zeros(0, np.uint8),
            "sketch_sizes": np.array([len(b) for b in blobs], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "QuantileSketches":
        state = cls.__new__(cls)
        state.k = int(arrays["k"])
        state.n_features = int(arrays["n_features"])
        data = np.asarray(arrays["sketch_bytes"], dtype=np.uint8).tobytes()
        ends = np.cumsum(arrays["sketch_sizes"])
        starts = ends - arrays["sketch_sizes"]
        state.sketches = [kll_doubles_sketch.deserialize(data[a:b]) for a, b in zip(starts, ends)]
        return state

