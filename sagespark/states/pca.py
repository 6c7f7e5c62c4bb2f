"""Mergeable states for principal component analysis, one per ``algorithmMode``.

Every state describes the weighted scatter matrix of the rows seen,

    C = sum_i w_i (x_i - m)(x_i - m)^T,   m = sum_i w_i x_i / W   (subtract_mean=True)
    C = sum_i w_i x_i x_i^T                                       (subtract_mean=False),

exactly or as a sketch, and finalizes to its top-k eigenpairs: the principal components
and the variance along each. The trace of C (total variance) is kept exactly in every
mode, so explained-variance ratios always have an exact denominator.

- ``ExactCovariance`` ('regular', SageMaker's): W, m and the centred C itself (d x d),
  merged with Chan's formula C = C_a + C_b + (W_a W_b / W) delta delta^T. Dense batches
  are centred on their own mean before the BLAS product (no cancellation); CSR batches
  use X^T W X - W_b m_b m_b^T without densifying.
- ``RandomSignSketch`` ('randomized', SageMaker's): B = sum_t H_t diag(sqrt w) X_t with
  H_t an l x b matrix of independent random signs per mini-batch, so E[B^T B] = l X^T W X;
  with h = sum_t H_t sqrt(w) and s = sum_i w_i x_i the centred sketch is B - h s^T / W.
  Merged by addition; finalize: SVD of the corrected sketch, eigenvalues sigma^2 / l.
  Its error is a random-projection error, shrinking like 1/sqrt(l).
- ``FrequentDirections`` ('fd'; Liberty 2013, Ghashami, Liberty, Phillips & Woodruff
  2016): an l x d matrix S with 0 <= A^T A - S^T S <= Delta I for the uncentred weighted
  rows A. When rows arrive, [S; new rows] is decomposed and every squared singular value
  is reduced by the (l+1)-th, delta; Delta is the sum of the deltas and
  Delta <= ||A - A_k||_F^2 / (l + 1 - k) for every k <= l. Merging stacks two sketches and
  shrinks again, keeping the bound. The mean is removed at finalize, C ~ S^T S - s s^T / W,
  which carries the same error. Sparse rows of large dimension are buffered up to 2 l d
  stored values and reduced with a randomized subspace iteration (Ghashami, Liberty &
  Phillips 2016, sparse FD); the Frobenius mass it leaves out is added to the reported
  error bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sagespark.kernels import CSRMatrix, Features, vstack
from sagespark.kernels.linalg import (
    add_transpose_matmul,
    add_weighted_gram,
    matmul,
    scale_rows,
    squared_frobenius,
    weighted_column_sums,
)
from sagespark.states.base import State
from sagespark.states.moments import chan_terms

ALGORITHM_MODES = ("regular", "randomized", "fd")
# The exact mode keeps d x d doubles per partition state (and a merge holds three).
REGULAR_MAX_STATE_BYTES = 1 << 30
# Frequent Directions shrinks through the d x d Gram when d is at most this (exact, one
# eigendecomposition per batch); above it, through the Gram of the stacked rows.
_FD_COLUMN_GRAM_MAX = 256
# Dense rows above that dimension are shrunk this many sketch-rows at a time: every
# shrink costs about one noise eigenvalue of the stack in accuracy, so fewer, larger
# shrinks keep more signal (at O(chunk d) memory and ~chunk d flops per row).
_FD_CHUNK_FACTOR = 10
# Wide CSR rows are buffered up to this many times l d stored values before a flush
# (about 1.5x the dense sketch's bytes per factor; fewer flushes are faster and keep more).
_FD_BUFFER_FACTOR = 2
# Subspace-iteration settings of the sparse FD flush.
_FD_OVERSAMPLING = 10
_FD_POWER_ITERATIONS = 2


@dataclass(frozen=True)
class PCASolution:
    """finalize(): the top-k principal directions of the scatter matrix C."""

    components: np.ndarray  # d x k, orthonormal columns, decreasing variance
    eigenvalues: np.ndarray  # k: v_i^T C v_i (estimates for the sketches), >= 0
    total_variance: float  # trace(C), exact in every mode
    mean: np.ndarray  # the weighted mean m (d)
    count: int
    weight_sum: float

    @property
    def explained_variance(self) -> np.ndarray:
        """Proportion of the total variance along each component (MLlib's
        explainedVariance)."""
        if self.total_variance <= 0:
            return np.zeros_like(self.eigenvalues)
        return self.eigenvalues / self.total_variance

    @property
    def singular_values(self) -> np.ndarray:
        """Singular values of the (centred) weighted data matrix: sqrt(eigenvalues)."""
        return np.sqrt(self.eigenvalues)


def check_regular_dimension(n_features: int) -> None:
    """Refuse a dimension whose d x d exact state would not fit in a worker."""
    needed = 8 * n_features**2
    if needed > REGULAR_MAX_STATE_BYTES:
        raise ValueError(
            f"algorithmMode='regular' keeps a d x d matrix: d={n_features} needs {needed / 2**30:.1f} GiB per "
            f"state (limit {REGULAR_MAX_STATE_BYTES / 2**30:.0f} GiB, d <= "
            f"{int((REGULAR_MAX_STATE_BYTES / 8) ** 0.5)}); use algorithmMode='randomized' or 'fd', whose "
            "memory is O((k + extraComponents) d)"
        )


class PCAState(State):
    """What the three modes share: the dimension, counts, and the finalize logic."""

    kind: ClassVar[str]
    n_features: int
    count: int
    weight_sum: float

    @property
    def max_components(self) -> int:
        """The largest k this state can finalize."""
        raise NotImplementedError

    def _top_eigenpairs(self, k: int, subtract_mean: bool) -> tuple[np.ndarray, np.ndarray]:
        """(eigenvalues descending, d x k eigenvectors) of (the estimate of) C."""
        raise NotImplementedError

    def _total_variance(self, subtract_mean: bool) -> float:
        raise NotImplementedError

    def _mean(self) -> np.ndarray:
        raise NotImplementedError

    def finalize(self, k: int, subtract_mean: bool = True) -> PCASolution:
        if self.count == 0 or self.weight_sum <= 0:
            raise ValueError("no rows with positive weight were summarized")
        if not 1 <= k <= self.max_components:
            raise ValueError(
                f"k={k} is outside what this {self.kind} state supports: 1 <= k <= {self.max_components}"
                + ("" if self.kind == ExactCovariance.kind else " (k + extraComponents at fit time, at most d)")
            )
        values, vectors = self._top_eigenpairs(k, subtract_mean)
        vectors = _complete_basis(vectors, k)
        values = np.concatenate([np.maximum(values, 0.0), np.zeros(k - len(values))])[:k]
        return PCASolution(
            components=_fix_signs(vectors),
            eigenvalues=values,
            total_variance=max(self._total_variance(subtract_mean), 0.0),
            mean=self._mean(),
            count=self.count,
            weight_sum=self.weight_sum,
        )

    def _check_batch(self, x: Features, weights: np.ndarray | None) -> np.ndarray:
        if x.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {x.shape[1]}")
        return np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)

    def _check_mergeable(self, other: "PCAState") -> None:
        if type(other) is not type(self):
            raise TypeError(f"cannot merge a {self.kind} state with {getattr(other, 'kind', type(other).__name__)}")
        if other.n_features != self.n_features:
            raise ValueError(f"cannot merge PCA states of {self.n_features} and {other.n_features} features")


# ----------------------------------------------------------------------- regular
class ExactCovariance(PCAState):
    kind = "pca_regular"

    def __init__(self, n_features: int) -> None:
        check_regular_dimension(n_features)
        self.n_features = int(n_features)
        self.count = 0
        self.weight_sum = 0.0
        self.mean = np.zeros(n_features)
        self.scatter = np.zeros((n_features, n_features))

    @property
    def max_components(self) -> int:
        return self.n_features

    def update(self, x: Features, weights: np.ndarray | None = None) -> "ExactCovariance":
        w = self._check_batch(x, weights)
        total = float(w.sum())
        if total > 0:
            mean = weighted_column_sums(x, w) / total
            if isinstance(x, CSRMatrix):
                scatter = np.zeros_like(self.scatter)
                add_weighted_gram(x, w, scatter)
                scatter -= total * np.outer(mean, mean)
            else:
                centred = x - mean
                if not np.all(w == 1.0):
                    centred *= np.sqrt(w)[:, None]
                scatter = centred.T @ centred
            self._combine(total, mean, scatter)
        self.count += x.shape[0]
        return self

    def _combine(self, weight: float, mean: np.ndarray, scatter: np.ndarray) -> None:
        total, merged_mean, delta, factor = chan_terms(self.weight_sum, self.mean, weight, mean)
        self.scatter = self.scatter + scatter + factor * np.outer(delta, delta)
        self.weight_sum, self.mean = total, merged_mean

    def merge(self, other: "ExactCovariance") -> "ExactCovariance":
        self._check_mergeable(other)
        merged = ExactCovariance.from_arrays(self.to_arrays())
        merged._combine(other.weight_sum, other.mean, other.scatter)
        merged.count += other.count
        return merged

    def _matrix(self, subtract_mean: bool) -> np.ndarray:
        return self.scatter if subtract_mean else self.scatter + self.weight_sum * np.outer(self.mean, self.mean)

    def _top_eigenpairs(self, k, subtract_mean):
        values, vectors = np.linalg.eigh(self._matrix(subtract_mean))
        return values[::-1][:k], vectors[:, ::-1][:, :k]

    def _total_variance(self, subtract_mean):
        return float(np.trace(self._matrix(subtract_mean)))

    def _mean(self):
        return self.mean.copy()

    def to_arrays(self):
        return {
            "n_features": np.array(self.n_features), "count": np.array(self.count),
            "weight_sum": np.array(self.weight_sum), "mean": self.mean, "scatter": self.scatter,
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays):
        state = cls.__new__(cls)
        state.n_features, state.count = int(arrays["n_features"]), int(arrays["count"])
        state.weight_sum = float(arrays["weight_sum"])
        state.mean, state.scatter = np.array(arrays["mean"]), np.array(arrays["scatter"])
        _check_shapes(state, mean=(state.n_features,), scatter=(state.n_features, state.n_features))
        return state


# --------------------------------------------------------- sums the sketches share
class _SketchState(PCAState):
    """Exact sums beside a sketch: s = sum w x, q = sum w ||x||^2, W and the row count."""

    rows: int

    def _init_sums(self, n_features: int, rows: int) -> None:
        if n_features < 1 or rows < 1:
            raise ValueError(f"need n_features >= 1 and sketch rows >= 1, got {n_features} and {rows}")
        self.n_features, self.rows = int(n_features), int(rows)
        self.count, self.weight_sum, self.squared_sum = 0, 0.0, 0.0
        self.sums = np.zeros(n_features)

    def _add_sums(self, x: Features, w: np.ndarray) -> None:
        self.count += x.shape[0]
        self.weight_sum += float(w.sum())
        self.squared_sum += squared_frobenius(x, w)
        self.sums += weighted_column_sums(x, w)

    def _merge_sums(self, merged: "_SketchState", other: "_SketchState") -> None:
        merged.count += other.count
        merged.weight_sum += other.weight_sum
        merged.squared_sum += other.squared_sum
        merged.sums = merged.sums + other.sums

    def _check_mergeable(self, other):
        super()._check_mergeable(other)
        if other.rows != self.rows:
            raise ValueError(
                f"cannot merge sketches of {self.rows} and {other.rows} rows (k + extraComponents must match)"
            )

    @property
    def max_components(self) -> int:
        return min(self.rows, self.n_features)

    def _mean(self):
        return self.sums / self.weight_sum

    def _total_variance(self, subtract_mean):
        return self.squared_sum - (self.sums @ self.sums / self.weight_sum if subtract_mean else 0.0)

    def _sums_arrays(self) -> dict[str, np.ndarray]:
        return {
            "n_features": np.array(self.n_features), "rows": np.array(self.rows), "count": np.array(self.count),
            "weight_sum": np.array(self.weight_sum), "squared_sum": np.array(self.squared_sum), "sums": self.sums,
        }  # fmt: skip

    @classmethod
    def _from_sums_arrays(cls, arrays) -> "_SketchState":
        state = cls.__new__(cls)
        state.n_features, state.rows = int(arrays["n_features"]), int(arrays["rows"])
        state.count, state.weight_sum = int(arrays["count"]), float(arrays["weight_sum"])
        state.squared_sum, state.sums = float(arrays["squared_sum"]), np.array(arrays["sums"])
        _check_shapes(state, sums=(state.n_features,))
        return state


# -------------------------------------------------------------------- randomized
class RandomSignSketch(_SketchState):
    kind = "pca_randomized"

    def __init__(self, n_features: int, rows: int, seed: int = 0, stream: tuple[int, int] = (0, 0)) -> None:
        """``stream`` = (generation, partition): with the seed it names the random signs
        this state draws; two states merge only when their streams differ."""
        self._init_sums(n_features, rows)
        self.sketch_t = np.zeros((n_features, rows))  # B^T, so CSR updates write rows
        self.sign_sums = np.zeros(rows)  # h
        self.streams = np.array([[int(seed) % 2**63, int(stream[0]), int(stream[1])]], dtype=np.int64)
        self.batches = 0

    @classmethod
    def new_for_partition(cls, partition: int, n_features: int, rows: int, seed: int = 0,
                          generation: int = 0) -> "RandomSignSketch":  # fmt: skip
        return cls(n_features, rows, seed, (generation, partition))

    def update(self, x: Features, weights: np.ndarray | None = None) -> "RandomSignSketch":
        w = self._check_batch(x, weights)
        if len(self.streams) != 1:
            raise ValueError("a merged randomized sketch takes no more rows: sketch new rows in a new state and merge")
        seed, generation, partition = (int(v) for v in self.streams[0])
        rng = np.random.default_rng([seed, generation, partition, self.batches])
        self.batches += 1
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(x.shape[0], self.rows), dtype=np.int8)
        weighted_signs = signs * np.sqrt(w)[:, None]
        add_transpose_matmul(x, weighted_signs, self.sketch_t)
        self.sign_sums += weighted_signs.sum(axis=0)
        self._add_sums(x, w)
        return self

    def merge(self, other: "RandomSignSketch") -> "RandomSignSketch":
        self._check_mergeable(other)
        shared = {tuple(s) for s in self.streams.tolist()} & {tuple(s) for s in other.streams.tolist()}
        if shared:
            seed, generation, partition = sorted(shared)[0]
            raise ValueError(
                f"these randomized sketches drew the same random signs (seed {seed}, generation {generation}, "
                f"partition {partition}), so their sum is not a sketch of both; fit one of them with another "
                "seed, or continue a model with setInitialModel"
            )
        merged = RandomSignSketch.from_arrays(self.to_arrays())
        self._merge_sums(merged, other)
        merged.sketch_t = merged.sketch_t + other.sketch_t
        merged.sign_sums = merged.sign_sums + other.sign_sums
        merged.streams = np.concatenate([merged.streams, other.streams])
        merged.batches += other.batches
        return merged

    @property
    def next_generation(self) -> int:
        """A generation no stream of this state used (for incremental fits)."""
        return int(self.streams[:, 1].max()) + 1

    def _top_eigenpairs(self, k, subtract_mean):
        corrected = self.sketch_t
        if subtract_mean:
            corrected = corrected - np.outer(self.sums / self.weight_sum, self.sign_sums)
        vectors, singular, _ = np.linalg.svd(corrected, full_matrices=False)
        return (singular**2 / self.rows)[:k], vectors[:, :k]

    def to_arrays(self):
        return {
            **self._sums_arrays(), "sketch_t": self.sketch_t, "sign_sums": self.sign_sums,
            "streams": self.streams, "batches": np.array(self.batches),
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays):
        state = cls._from_sums_arrays(arrays)
        state.sketch_t, state.sign_sums = np.array(arrays["sketch_t"]), np.array(arrays["sign_sums"])
        state.streams, state.batches = np.array(arrays["streams"], dtype=np.int64), int(arrays["batches"])
        _check_shapes(state, sketch_t=(state.n_features, state.rows), sign_sums=(state.rows,))
        return state


# ------------------------------------------------------------ Frequent Directions
class FrequentDirections(_SketchState):
    kind = "pca_fd"

    def __init__(self, n_features: int, rows: int, seed: int = 0) -> None:
        """``seed`` drives only the randomized reduction of buffered sparse rows."""
        self._init_sums(n_features, rows)
        self.seed = int(seed) % 2**63
        self.sketch = np.zeros((0, n_features))  # S, at most `rows` rows
        self.error_bound = 0.0  # Delta: ||A^T A - S^T S||_2 <= error_bound
        self.flushes = 0
        self._buffer: list[CSRMatrix] = []
        self._buffer_nnz = 0

    def update(self, x: Features, weights: np.ndarray | None = None) -> "FrequentDirections":
        w = self._check_batch(x, weights)
        self._add_sums(x, w)
        if self.n_features <= _FD_COLUMN_GRAM_MAX:
            gram = self.sketch.T @ self.sketch
            add_weighted_gram(x, w, gram)
            self._shrink_gram(gram)
        elif isinstance(x, np.ndarray):
            rows = scale_rows(x, np.sqrt(w))
            chunk = _FD_CHUNK_FACTOR * self.rows
            for start in range(0, x.shape[0], chunk):
                self._shrink_rows(np.vstack([self.sketch, rows[start : start + chunk]]))
        else:
            self._buffer.append(scale_rows(x, np.sqrt(w)))
            self._buffer_nnz += len(x.data)
            if self._buffer_nnz >= _FD_BUFFER_FACTOR * self.rows * self.n_features:
                self._flush()
        return self

    # the three ways to shrink -------------------------------------------------
    def _keep_top(self, values: np.ndarray, vectors_t: np.ndarray) -> None:
        """S = sqrt(values_i - delta) v_i^T for the top `rows` eigenpairs (descending),
        delta = the (rows+1)-th value; Delta += delta."""
        delta = max(float(values[self.rows]), 0.0) if len(values) > self.rows else 0.0
        top = min(self.rows, len(vectors_t))
        kept = np.sqrt(np.maximum(values[:top] - delta, 0.0))
        nonzero = kept > 0
        self.sketch = kept[nonzero, None] * vectors_t[:top][nonzero]
        self.error_bound += delta

    def _shrink_gram(self, gram: np.ndarray) -> None:
        """Exact shrink through the d x d Gram S^T S + Y^T Y."""
        values, vectors = np.linalg.eigh(gram)
        self._keep_top(values[::-1], vectors[:, ::-1].T)

    def _shrink_rows(self, stacked: np.ndarray) -> None:
        """Exact shrink of dense stacked rows M through their m x m Gram M M^T."""
        if stacked.shape[0] <= self.rows:
            self.sketch = stacked
            return
        values, left = np.linalg.eigh(stacked @ stacked.T)
        values, left = values[::-1], left[:, ::-1]
        top = min(self.rows, int((values > values[0] * 1e-14).sum()))
        right_t = (left[:, :top].T @ stacked) / np.sqrt(values[:top])[:, None]
        self._keep_top(values, right_t)

    def _flush(self) -> None:
        """Reduce [S; buffered sparse rows] with a randomized subspace iteration of
        rank rows + oversampling, then shrink; Delta also takes the Frobenius mass left
        outside the subspace."""
        if not self._buffer:
            return
        buffered = vstack(self._buffer)
        self._buffer, self._buffer_nnz = [], 0
        sketch = self.sketch
        rank = min(self.rows + _FD_OVERSAMPLING, self.n_features)
        rng = np.random.default_rng([self.seed, self.flushes])
        self.flushes += 1

        def times(z: np.ndarray) -> np.ndarray:  # M z
            return np.vstack([sketch @ z, matmul(buffered, z)])

        def transpose_times(y: np.ndarray) -> np.ndarray:  # M^T y
            out = sketch.T @ y[: len(sketch)]
            add_transpose_matmul(buffered, y[len(sketch) :], out)
            return out

        basis = transpose_times(rng.standard_normal((len(sketch) + buffered.shape[0], rank)))
        for _ in range(_FD_POWER_ITERATIONS):
            basis = transpose_times(times(_orthonormal_columns(basis)))
        basis = _orthonormal_columns(_orthonormal_columns(basis))
        projected = times(basis)
        values, right = np.linalg.eigh(projected.T @ projected)  # squared singular values of M basis
        values, right = np.maximum(values[::-1], 0.0), right[:, ::-1]
        total = float(np.sum(sketch * sketch)) + squared_frobenius(buffered, np.ones(buffered.shape[0]))
        self.error_bound += max(total - float(values.sum()), 0.0)
        self._keep_top(values, (basis @ right).T)

    # protocol ---------------------------------------------------------------
    def merge(self, other: "FrequentDirections") -> "FrequentDirections":
        self._check_mergeable(other)
        merged = FrequentDirections.from_arrays(self.to_arrays())
        other = FrequentDirections.from_arrays(other.to_arrays())
        self._merge_sums(merged, other)
        merged.error_bound += other.error_bound
        merged.flushes += other.flushes
        merged._shrink_rows(np.vstack([merged.sketch, other.sketch]))
        return merged

    def _top_eigenpairs(self, k, subtract_mean):
        self._flush()
        rows, signs = self.sketch, np.ones(len(self.sketch))
        if subtract_mean:
            rows = np.vstack([rows, self.sums[None, :]])
            signs = np.append(signs, -1.0 / self.weight_sum)
        if len(rows) == 0:
            return np.zeros(0), np.zeros((self.n_features, 0))
        basis, triangle = np.linalg.qr(rows.T)  # rows^T = Q R, so rows^T D rows = Q (R D R^T) Q^T
        values, vectors = np.linalg.eigh((triangle * signs) @ triangle.T)
        top = min(k, len(values))
        return values[::-1][:top], basis @ vectors[:, ::-1][:, :top]

    def to_arrays(self):
        self._flush()
        return {
            **self._sums_arrays(), "seed": np.array(self.seed), "sketch": self.sketch,
            "error_bound": np.array(self.error_bound), "flushes": np.array(self.flushes),
        }  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays):
        state = cls._from_sums_arrays(arrays)
        state.seed, state.sketch = int(arrays["seed"]), np.array(arrays["sketch"], dtype=np.float64)
        state.error_bound, state.flushes = float(arrays["error_bound"]), int(arrays["flushes"])
        state._buffer, state._buffer_nnz = [], 0
        if state.sketch.ndim != 2 or state.sketch.shape[1] != state.n_features or len(state.sketch) > state.rows:
            raise ValueError(f"fd sketch of shape {state.sketch.shape} does not fit {state.rows} x {state.n_features}")
        return state


# ------------------------------------------------------------------------ helpers
def pca_state_params(mode: str, n_features: int, rows: int, seed: int = 0, generation: int = 0) -> dict:
    """``new_state``'s kind and params for the empty state of an algorithmMode (``rows``
    = k + extra components, for the sketches)."""
    if mode == "regular":
        return {"kind": ExactCovariance.kind, "n_features": n_features}
    if mode == "randomized":
        return {"kind": RandomSignSketch.kind, "n_features": n_features, "rows": rows, "seed": seed,
                "generation": generation}  # fmt: skip
    if mode == "fd":
        return {"kind": FrequentDirections.kind, "n_features": n_features, "rows": rows, "seed": seed}
    raise ValueError(f"algorithmMode must be one of {ALGORITHM_MODES}, got {mode!r}")


def _orthonormal_columns(z: np.ndarray) -> np.ndarray:
    """An orthonormal basis of z's column space from the eigendecomposition of the
    small Gram z^T z (one BLAS-3 pass over the tall z; Householder QR measured ~10x
    slower at 100,000 x 30). Directions below 1e-10 of the largest are dropped; applying
    it twice restores orthonormality to machine precision."""
    values, vectors = np.linalg.eigh(z.T @ z)
    keep = values > values[-1] * 1e-10
    return z @ (vectors[:, keep] / np.sqrt(values[keep]))


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Each column's largest-magnitude entry made positive, so components do not flip
    sign between runs or modes."""
    if vectors.size == 0:
        return vectors
    largest = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    return vectors * np.where(largest < 0, -1.0, 1.0)


def _complete_basis(vectors: np.ndarray, k: int) -> np.ndarray:
    """Pad d x j orthonormal columns to d x k with orthonormal directions of zero variance
    (when the data span fewer than k dimensions)."""
    d, found = vectors.shape
    if found >= k:
        return vectors[:, :k]
    candidates = np.eye(d)[:, np.argsort(np.abs(vectors).sum(axis=1), kind="stable")]
    basis = np.linalg.qr(np.hstack([vectors, candidates]))[0]
    return np.hstack([vectors, basis[:, found:k]])


def _check_shapes(state: State, **expected: tuple[int, ...]) -> None:
    for name, shape in expected.items():
        if getattr(state, name).shape != shape:
            raise ValueError(f"{state.kind} state array '{name}' has shape {getattr(state, name).shape}, expected {shape}")


def pca_project(x: Features, components: np.ndarray, offset: np.ndarray) -> dict[str, np.ndarray]:
    """A PCAModel's scorer: pc^T (x - mean) = pc^T x - pc^T mean per row, so CSR rows
    are never densified (``offset`` = pc^T mean, or 0 without mean subtraction)."""
    return {"projection": matmul(x, components) - offset}
