"""Streaming quantiles: KLL sketches (mergeable, with a rank-error guarantee) and the
frugal one-number estimate (cheap, approximate, not principled-mergeable).

The exact median of a stream needs the whole stream. The KLL sketch (Karnin, Lang &
Liberty 2016) keeps O(k) items in compactors of growing weight and answers any
quantile with normalized rank error eps ~ 1.7 / k (Apache DataSketches' a-priori bound,
99% confidence); two sketches merge into a sketch of the union with the same bound. We
use DataSketches' implementation, whose serialized bytes are the ones Spark SQL's
``kll_sketch_agg_double`` produces and ``kll_sketch_get_quantile_double`` reads.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from datasketches import kll_doubles_sketch

from sagespark.kernels import CSRMatrix, Features
from sagespark.streaming.base import State

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
    def from_sql_sketches(cls, sketches: list[bytes], k: int = DEFAULT_K) -> "QuantileSketches":
        state = cls(k, len(sketches))
        state.sketches = [kll_doubles_sketch.deserialize(bytes(b)) for b in sketches]
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


# --------------------------------------------------------------------- frugal
FRUGAL_VARIANTS = ("1U", "2U")


@numba.njit(cache=True, nogil=True)
def _frugal_1u(x, draws, q, unit, estimate):
    """Frugal-1U (Ma, Muthukrishnan & Sandler 2013): move the estimate one unit up
    with probability q when an item is above it, down with probability 1 - q when
    below; it settles where P(item > m) q = P(item < m) (1 - q), the q-quantile."""
    n, d = x.shape
    for j in range(d):
        m = estimate[j]
        for i in range(n):
            if x[i, j] > m and draws[i, j] > 1.0 - q:
                m += unit
            elif x[i, j] < m and draws[i, j] > q:
                m -= unit
        estimate[j] = m


@numba.njit(cache=True, nogil=True)
def _frugal_2u(x, draws, q, unit, estimate, step, sign):
    """Frugal-2U: as 1U, but the step grows by one unit while the estimate keeps
    moving the same way and resets when it turns, so it reaches far quantiles fast; it
    never jumps past the item that moved it (Algorithm 3 of the paper, f(step) = 1)."""
    n, d = x.shape
    for j in range(d):
        m, s, g = estimate[j], step[j], sign[j]
        for i in range(n):
            v = x[i, j]
            if v > m and draws[i, j] > 1.0 - q:
                s += unit if g > 0 else -unit
                m += np.ceil(s / unit) * unit if s > 0 else unit
                if m > v:
                    s += v - m
                    m = v
                if g < 0 and s > unit:
                    s = unit
                g = 1.0
            elif v < m and draws[i, j] > q:
                s += unit if g < 0 else -unit
                m -= np.ceil(s / unit) * unit if s > 0 else unit
                if m < v:
                    s += m - v
                    m = v
                if g > 0 and s > unit:
                    s = unit
                g = -1.0
        estimate[j], step[j], sign[j] = m, s, g


class FrugalQuantile(State):
    """One number per column that drifts towards the q-quantile (Frugal-1U or 2U).

    Memory is one (1U) or three (2U) numbers per column, so it suits many small groups.
    It is approximate with no error bound, needs a sensible ``unit`` (the step size, in
    the data's units) and converges only after enough items. ``merge`` returns the
    count-weighted average of the estimates: a heuristic, not a principled merge; use
    QuantileSketches where a guarantee or a merge is needed."""

    kind = "frugal_quantile"

    def __init__(
        self, q: float = 0.5, unit: float = 1.0, variant: str = "2U", seed: int = 0, stream_id: int = 0
    ) -> None:
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must be in (0, 1), got {q}")
        if not unit > 0:
            raise ValueError(f"unit must be > 0, got {unit}")
        if variant not in FRUGAL_VARIANTS:
            raise ValueError(f"variant must be one of {FRUGAL_VARIANTS}, got {variant!r}")
        self.q, self.unit, self.variant = float(q), float(unit), variant
        self.seed, self.stream_id = int(seed) % 2**63, int(stream_id)
        self.count, self.batches_seen = 0, 0
        self.estimate = self.step = self.sign = np.zeros(0)

    @classmethod
    def new_for_partition(cls, partition: int, **params: Any) -> "FrugalQuantile":
        return cls(stream_id=partition, **params)

    def update(self, x: Features, weights: np.ndarray | None = None) -> "FrugalQuantile":
        _check_unit_weights(weights, "frugal quantiles")
        dense = x.to_dense() if isinstance(x, CSRMatrix) else np.asarray(x, dtype=np.float64)
        n, d = dense.shape
        if n == 0:
            return self
        if self.count == 0:
            self.estimate, self.step, self.sign = dense[0].copy(), np.full(d, self.unit), np.ones(d)
        elif d != len(self.estimate):
            raise ValueError(f"expected {len(self.estimate)} features, found {d}")
        rng = np.random.default_rng([self.seed, self.stream_id, self.batches_seen])
        draws = rng.random((n, d))
        if self.variant == "1U":
            _frugal_1u(dense, draws, self.q, self.unit, self.estimate)
        else:
            _frugal_2u(dense, draws, self.q, self.unit, self.estimate, self.step, self.sign)
        self.count += n
        self.batches_seen += 1
        return self

    def merge(self, other: "FrugalQuantile") -> "FrugalQuantile":
        if not isinstance(other, FrugalQuantile):
            raise TypeError(f"cannot merge a frugal quantile with {type(other).__name__}")
        merged = self.copy()
        if other.count == 0:
            return merged
        if merged.count == 0:
            return other.copy()
        total = merged.count + other.count
        merged.estimate = (merged.estimate * merged.count + other.estimate * other.count) / total
        merged.step = np.full_like(merged.estimate, merged.unit)
        merged.sign = np.ones_like(merged.estimate)
        merged.count, merged.batches_seen = total, merged.batches_seen + other.batches_seen
        return merged

    def copy(self) -> "FrugalQuantile":
        return FrugalQuantile.from_arrays(self.to_arrays())

    def finalize(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("no rows were seen")
        return self.estimate.copy()

    _SCALARS = ("q", "unit", "seed", "stream_id", "count", "batches_seen")

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: np.array(getattr(self, name)) for name in self._SCALARS}
        arrays.update(variant=np.array(self.variant), estimate=self.estimate, step=self.step, sign=self.sign)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "FrugalQuantile":
        state = cls.__new__(cls)
        for name in ("q", "unit"):
            setattr(state, name, float(arrays[name]))
        for name in ("seed", "stream_id", "count", "batches_seen"):
            setattr(state, name, int(arrays[name]))
        state.variant = str(arrays["variant"])
        for name in ("estimate", "step", "sign"):
            setattr(state, name, np.array(arrays[name], dtype=np.float64))
        return state
