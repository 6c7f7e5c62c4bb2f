"""k-nearest-neighbour kernels: random projections, blocked search with a fused top-k,
and the vote / mean over the neighbours' labels.

Every metric is ranked by a score that is smallest for the nearest row y of a query q:

    L2:             s = ||y||^2 - 2 q.y      (= ||q - y||^2 - ||q||^2)
    INNER_PRODUCT:  s = -q.y
    COSINE:         s = -q.y                  on rows and queries scaled to unit norm

so the O(n m d) work is one BLAS product per (query block x index block) and a numba
loop keeps, per query, the k smallest (score, id) pairs in ascending order; equal scores
go to the smaller id. No n x m score matrix is ever held: a block is at most
QUERY_BLOCK x INDEX_BLOCK scores.

Projections (SageMaker's ``dimension_reduction_type``), both x -> x P with E||xP||^2 =
||x||^2, so distances are preserved within the Johnson-Lindenstrauss bounds:

- 'sign': P = S / sqrt(m), S a d x m matrix of independent +-1 (Achlioptas 2003).
- 'fjlt': the subsampled randomized Hadamard transform (Ailon & Chazelle's fast JL
  transform with a sampling projection): pad x to p = 2^ceil(log2 d) coordinates, flip
  signs by a random diagonal D, apply the Walsh-Hadamard matrix H (O(p log p) per row),
  keep m coordinates drawn without replacement, and scale by 1/sqrt(m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from sagespark.kernels.linalg import matmul
from sagespark.kernels.sparse import CSRMatrix, Features, row_slice

METRICS = ("L2", "INNER_PRODUCT", "COSINE")
REDUCTIONS = ("none", "sign", "fjlt")
# A block of scores is QUERY_BLOCK x INDEX_BLOCK (1 MB of float64). 2048 queries x 200k
# rows of 32 dims, two single-threaded processes at once (as two Spark tasks on 2 cores):
# 2.9 s per process, against 3.9 s with 1024 x 256 blocks.
QUERY_BLOCK, INDEX_BLOCK = 2048, 64
BLOCK_ELEMENTS = QUERY_BLOCK * INDEX_BLOCK
NO_ID = np.iinfo(np.int64).max


# --------------------------------------------------------------------- projections
@dataclass(frozen=True)
class Projection:
    """A drawn random projection from d to ``target`` dimensions (see module docstring)."""

    kind: str
    n_features: int
    target: int
    seed: int

    @property
    def padded(self) -> int:
        return 1 << max(0, (self.n_features - 1).bit_length())

    def _draws(self) -> tuple[np.ndarray, np.ndarray]:
        """sign: (the d x m matrix, unused); fjlt: (the d signs, the m kept coordinates)."""
        rng = np.random.default_rng([self.seed, self.n_features, self.target])
        if self.kind == "sign":
            signs = rng.integers(0, 2, size=(self.n_features, self.target)) * 2.0 - 1.0
            return signs / np.sqrt(self.target), np.zeros(0, dtype=np.int64)
        signs = rng.integers(0, 2, size=self.n_features) * 2.0 - 1.0
        return signs, np.sort(rng.choice(self.padded, size=self.target, replace=False))

    def apply(self, x: Features) -> np.ndarray:
        """The projected rows (n x target), dense."""
        first, second = self._draws()
        if self.kind == "sign":
            return matmul(x, first)
        out = np.empty((x.shape[0], self.target))
        rows_per_chunk = max(1, BLOCK_ELEMENTS // self.padded)
        for start in range(0, x.shape[0], rows_per_chunk):
            chunk = row_slice(x, start, min(x.shape[0], start + rows_per_chunk))
            out[start : start + chunk.shape[0]] = _srht(chunk, first, second, self.padded)
        return out


def check_projection(kind: str, n_features: int, target: int) -> None:
    if kind not in REDUCTIONS:
        raise ValueError(f"dimensionReductionType must be one of {REDUCTIONS}, got {kind!r}")
    if kind != "none" and not 0 < target < n_features:
        raise ValueError(
            f"dimensionReductionTarget must be in 1..{n_features - 1} (below the {n_features} features) "
            f"for dimensionReductionType={kind!r}, got {target}"
        )


def _srht(x: Features, signs: np.ndarray, coords: np.ndarray, padded: int) -> np.ndarray:
    dense = x.to_dense() if isinstance(x, CSRMatrix) else x
    rows = np.zeros((dense.shape[0], padded))
    rows[:, : dense.shape[1]] = dense * signs
    walsh_hadamard(rows)
    return rows[:, coords] / np.sqrt(len(coords))


def walsh_hadamard(rows: np.ndarray) -> None:
    """rows <- rows H in place, H the unnormalized p x p Walsh-Hadamard matrix (p a power
    of 2): log2(p) butterfly levels (a, b) -> (a + b, a - b), each over the whole block."""
    n, p = rows.shape
    h = 1
    while h < p:
        pairs = rows.reshape(n, p // (2 * h), 2, h)
        a = pairs[:, :, 0, :].copy()
        pairs[:, :, 0, :] += pairs[:, :, 1, :]
        pairs[:, :, 1, :] = a - pairs[:, :, 1, :]
        h *= 2


# -------------------------------------------------------------------------- search
def row_scores_offsets(vectors: np.ndarray, metric: str) -> np.ndarray:
    """The per-row term of the score: ||y||^2 for L2, 0 for the inner products."""
    if metric == "L2":
        return np.einsum("ij,ij->i", vectors, vectors)
    return np.zeros(len(vectors))


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a zero row stays zero: it ties with every row)."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    return x / np.where(norms > 0, norms, 1.0)[:, None]


def empty_top_k(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of n queries with no candidates yet: +inf and NO_ID."""
    return np.full((n, k), np.inf), np.full((n, k), NO_ID, dtype=np.int64)


def block_search(
    queries: np.ndarray,
    vectors: np.ndarray,
    offsets: np.ndarray,
    ids: np.ndarray,
    metric: str,
    best_scores: np.ndarray,
    best_ids: np.ndarray,
    query_rows: np.ndarray | None = None,
) -> None:
    """Fold the rows ``vectors`` (with score offsets and ids) into the running top-k of
    ``queries``, whose rows are ``query_rows`` (default 0..n-1) of best_scores/best_ids."""
    n, m = len(queries), len(vectors)
    if n == 0 or m == 0:
        return
    rows = np.arange(n, dtype=np.int64) if query_rows is None else query_rows.astype(np.int64)
    scale = -2.0 if metric == "L2" else -1.0
    query_block, index_block = QUERY_BLOCK, INDEX_BLOCK
    for q0 in range(0, n, query_block):
        q = queries[q0 : q0 + query_block]
        for r0 in range(0, m, index_block):
            dots = q @ vectors[r0 : r0 + index_block].T
            _fold_top_k(dots, rows[q0 : q0 + query_block], offsets[r0 : r0 + index_block],
                        ids[r0 : r0 + index_block], scale, best_scores, best_ids)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _fold_top_k(dots, query_rows, offsets, ids, scale, best_scores, best_ids):
    """For each query a and index row b: s = offsets[b] + scale * dots[a, b]; insert
    (s, ids[b]) into the query's ascending top-k when it beats the k-th."""
    k = best_scores.shape[1]
    for a in range(dots.shape[0]):
        q = query_rows[a]
        worst_s, worst_i = best_scores[q, k - 1], best_ids[q, k - 1]
        for b in range(dots.shape[1]):
            s = offsets[b] + scale * dots[a, b]
            i = ids[b]
            if s < worst_s or (s == worst_s and i < worst_i):
                p = k - 1
                while p > 0 and (best_scores[q, p - 1] > s or (best_scores[q, p - 1] == s and best_ids[q, p - 1] > i)):
                    best_scores[q, p] = best_scores[q, p - 1]
                    best_ids[q, p] = best_ids[q, p - 1]
                    p -= 1
                best_scores[q, p] = s
                best_ids[q, p] = i
                worst_s, worst_i = best_scores[q, k - 1], best_ids[q, k - 1]


def top_k_order(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Per row, the positions of the k smallest (score, id) pairs, in that order."""
    return np.lexsort((ids, scores), axis=1)[:, :k]


def merge_top_k(
    scores: list[np.ndarray], ids: list[np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of several partial top-k lists of the same queries (top-k is
    mergeable: the k best of a union are among the k best of each part)."""
    all_scores, all_ids = np.hstack(scores), np.hstack(ids)
    order = top_k_order(all_scores, all_ids, k)
    return np.take_along_axis(all_scores, order, 1), np.take_along_axis(all_ids, order, 1)


# ----------------------------------------------------------------------- predictors
def vote(neighbour_labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Votes per class (n x num_classes) of integer class labels 0..num_classes-1."""
    n, k = neighbour_labels.shape
    counts = np.zeros((n, num_classes))
    np.add.at(counts, (np.repeat(np.arange(n), k), neighbour_labels.astype(np.int64).ravel()), 1.0)
    return counts
