"""Weighted moments per dimension, merged with Chan et al.'s parallel formula.

Per dimension j the state keeps the total weight W, the weighted mean m_j, the centred
sum of squares M2_j = sum_i w_i (x_ij - m_j)^2, min, max and the number of non-zeros,
plus the row count and sum w^2 (for the unbiased variance with weights). Two parts
(W_a, m_a, M2_a) and (W_b, m_b, M2_b) combine as

    W = W_a + W_b,  delta = m_b - m_a,
    m = m_a + delta W_b / W,
    M2 = M2_a + M2_b + delta^2 W_a W_b / W,

which has no cancellation (Chan, Golub & LeVeque 1979). A mini-batch's own (W, m, M2)
is computed in two passes (mean first, then squared deviations), so update is a merge
of that batch. Sparse rows are handled without densifying: the implicit zeros of a
column contribute (W - W_nz) m^2 to its M2 and 0 to min/max.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sagespark.kernels import CSRMatrix, Features
from sagespark.states.base import State


@dataclass(frozen=True)
class MomentsSummary:
    """finalize(): the statistics per dimension (arrays of length d)."""

    count: int  # rows seen
    weight_sum: float
    mean: np.ndarray
    variance: np.ndarray  # unbiased: M2 / (W - sum w^2 / W), MLlib Summarizer's definition
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    num_nonzeros: np.ndarray


class Moments(State):
    kind = "moments"

    def __init__(self, n_features: int = -1) -> None:
        self.n_features = int(n_features)
        self.count = 0
        self.weight_sum = 0.0
        self.weight_sq_sum = 0.0
        self._reset_arrays(max(self.n_features, 0))

    def _reset_arrays(self, d: int) -> None:
        self.mean = np.zeros(d)
        self.m2 = np.zeros(d)
        self.min = np.full(d, np.inf)
        self.max = np.full(d, -np.inf)
        self.nnz = np.zeros(d, dtype=np.int64)

    # ------------------------------------------------------------------ update
    def update(self, x: Features, weights: np.ndarray | None = None) -> "Moments":
        n, d = x.shape
        if n == 0:
            return self
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        if self.n_features < 0:
            self.n_features = d
            self._reset_arrays(d)
        elif d != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {d}")
        batch = _sparse_batch(x, w) if isinstance(x, CSRMatrix) else _dense_batch(np.asarray(x), w)
        self._combine(batch)
        return self

    # ------------------------------------------------------------------- merge
    def merge(self, other: "Moments") -> "Moments":
        if not isinstance(other, Moments):
            raise TypeError(f"cannot merge moments with {type(other).__name__}")
        if other.n_features >= 0 and self.n_features >= 0 and other.n_features != self.n_features:
            raise ValueError(f"cannot merge moments of {self.n_features} and {other.n_features} features")
        merged = self.copy()
        if other.n_features < 0:
            return merged
        if merged.n_features < 0:
            return other.copy()
        merged._combine(other)
        return merged

    def _combine(self, other: "Moments") -> None:
        """Chan's update of self by another part (in place)."""
        total, mean, delta, factor = chan_terms(self.weight_sum, self.mean, other.weight_sum, other.mean)
        self.m2 = self.m2 + other.m2 + delta**2 * factor
        self.mean = mean
        self.weight_sum = total
        self.weight_sq_sum += other.weight_sq_sum
        self.count += other.count
        self.min = np.minimum(self.min, other.min)
        self.max = np.maximum(self.max, other.max)
        self.nnz = self.nnz + other.nnz

    def copy(self) -> "Moments":
        return Moments.from_arrays(self.to_arrays())

    # ---------------------------------------------------------------- finalize
    def finalize(self) -> MomentsSummary:
        if self.count == 0:
            raise ValueError("no rows were summarized")
        denominator = self.weight_sum - self.weight_sq_sum / self.weight_sum
        variance = self.m2 / denominator if denominator > 0 else np.zeros_like(self.m2)
        variance = np.maximum(variance, 0.0)
        return MomentsSummary(
            count=self.count,
            weight_sum=self.weight_sum,
            mean=self.mean.copy(),
            variance=variance,
            std=np.sqrt(variance),
            min=self.min.copy(),
            max=self.max.copy(),
            num_nonzeros=self.nnz.copy(),
        )

    # ----------------------------------------------------------- serialization
    _ARRAYS = ("mean", "m2", "min", "max", "nnz")

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        arrays.update(
            n_features=np.array(self.n_features),
            count=np.array(self.count),
            weight_sum=np.array(self.weight_sum),
            weight_sq_sum=np.array(self.weight_sq_sum),
        )
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Moments":
        state = cls.__new__(cls)
        state.n_features = int(arrays["n_features"])
        state.count = int(arrays["count"])
        state.weight_sum = float(arrays["weight_sum"])
        state.weight_sq_sum = float(arrays["weight_sq_sum"])
        for name in cls._ARRAYS:
            setattr(state, name, np.array(arrays[name]))
        return state


def chan_terms(
    weight_a: float, mean_a: np.ndarray, weight_b: float, mean_b: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Chan's merge of two weighted parts: (W, merged mean, delta = m_b - m_a, W_a W_b / W).
    The merged centred second moment is M2_a + M2_b + factor * delta delta^T (its diagonal
    for per-dimension variances)."""
    total = weight_a + weight_b
    if total <= 0:
        return total, mean_a, np.zeros_like(mean_a), 0.0
    delta = mean_b - mean_a
    return total, mean_a + delta * (weight_b / total), delta, weight_a * weight_b / total


def _batch_state(n: int, w: np.ndarray, mean, m2, low, high, nnz) -> Moments:
    batch = Moments(len(mean))
    batch.count, batch.weight_sum, batch.weight_sq_sum = n, float(w.sum()), float(w @ w)
    batch.mean, batch.m2, batch.min, batch.max, batch.nnz = mean, m2, low, high, nnz
    return batch


def _dense_batch(x: np.ndarray, w: np.ndarray) -> Moments:
    total = w.sum()
    mean = (w @ x) / total if total > 0 else np.zeros(x.shape[1])
    m2 = w @ (x - mean) ** 2
    return _batch_state(len(w), w, mean, m2, x.min(axis=0), x.max(axis=0), np.count_nonzero(x, axis=0))


def _sparse_batch(x: CSRMatrix, w: np.ndarray) -> Moments:
    n, d = x.shape
    row_w = np.repeat(w, np.diff(x.indptr))
    cols, values = x.indices, x.data
    total = w.sum()
    sums = np.bincount(cols, row_w * values, minlength=d)
    mean = sums / total if total > 0 else np.zeros(d)
    stored_w = np.bincount(cols, row_w, minlength=d)  # weight of rows storing column j
    m2 = np.bincount(cols, row_w * (values - mean[cols]) ** 2, minlength=d)
    m2 += (total - stored_w) * mean**2  # the implicit zeros
    stored = np.bincount(cols, minlength=d)
    low = np.full(d, np.inf)
    high = np.full(d, -np.inf)
    np.minimum.at(low, cols, values)
    np.maximum.at(high, cols, values)
    has_zero = stored < n  # some row leaves column j implicit
    low[has_zero] = np.minimum(low[has_zero], 0.0)
    high[has_zero] = np.maximum(high[has_zero], 0.0)
    nnz = np.bincount(cols, values != 0, minlength=d).astype(np.int64)
    return _batch_state(n, w, mean, m2, low, high, nnz)


def affine_scores(x: Features, shift: np.ndarray | None, scale: np.ndarray) -> dict[str, Features]:
    """The scalers' scorer (StandardScaler from Moments, RobustScaler from quantiles):
    (x - shift) * scale per row; CSR rows stay sparse when there is no shift."""
    if isinstance(x, CSRMatrix):
        if shift is None:
            return {"scaled": CSRMatrix(x.indptr, x.indices, x.data * scale[x.indices], x.n_cols)}
        x = x.to_dense()
    return {"scaled": (x - shift) * scale if shift is not None else x * scale}
