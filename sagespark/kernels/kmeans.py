"""k-means kernels: nearest-center assignment, per-center sums, seeding, Lloyd, compression.

Squared Euclidean distances use the expansion
    ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2,
so the O(n m d) part is one matrix product (BLAS for dense rows, a numba loop over the
non-zeros for CSR rows) and the rest is O(n m). Results are clipped at 0 to absorb the
cancellation error of the expansion.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from sagespark.kernels.sparse import CSRMatrix, Features

# Rows per block in dense assignment, chosen so the (rows x centers) product stays ~32 MB.
_BLOCK_ELEMENTS = 1 << 22


def squared_norms(x: Features) -> np.ndarray:
    """||x_i||^2 for every row."""
    if isinstance(x, np.ndarray):
        return np.einsum("ij,ij->i", x, x)
    return _csr_row_squared_norms(x.indptr, x.data)


@numba.njit(cache=True, nogil=True)
def _csr_row_squared_norms(indptr, data):
    n = len(indptr) - 1
    out = np.zeros(n)
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * data[p]
        out[i] = s
    return out


@numba.njit(cache=True, nogil=True)
def _argmin_rows(dots, x_sq, c_sq, labels, d2):
    """labels[i] = argmin_j c_sq[j] - 2 dots[i, j]; d2[i] = x_sq[i] + that minimum (>= 0)."""
    n, m = dots.shape
    for i in range(n):
        best = np.inf
        arg = 0
        for j in range(m):
            v = c_sq[j] - 2.0 * dots[i, j]
            if v < best:
                best = v
                arg = j
        labels[i] = arg
        d2[i] = max(x_sq[i] + best, 0.0)


@numba.njit(cache=True, nogil=True)
def _csr_nearest(indptr, indices, data, x_sq, centers_t, c_sq, labels, d2):
    """CSR rows against dense centers given transposed (d x m): per row, accumulate
    x.c_j for all j over the row's non-zeros, then take the minimum distance."""
    n = len(indptr) - 1
    m = centers_t.shape[1]
    dots = np.empty(m)
    for i in range(n):
        dots[:] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            row = centers_t[indices[p]]
            for j in range(m):
                dots[j] += v * row[j]
        best = np.inf
        arg = 0
        for j in range(m):
            val = c_sq[j] - 2.0 * dots[j]
            if val < best:
                best = val
                arg = j
        labels[i] = arg
        d2[i] = max(x_sq[i] + best, 0.0)


def nearest_centers(
    x: Features, centers: np.ndarray, x_sq: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest center and the squared distance to it, for every row of x."""
    n = x.shape[0]
    labels = np.empty(n, dtype=np.int64)
    d2 = np.empty(n)
    if n == 0:
        return labels, d2
    x_sq = squared_norms(x) if x_sq is None else x_sq
    c_sq = np.einsum("ij,ij->i", centers, centers)
    if isinstance(x, CSRMatrix):
        centers_t = np.ascontiguousarray(centers.T)
        _csr_nearest(x.indptr, x.indices, x.data, x_sq, centers_t, c_sq, labels, d2)
        return labels, d2
    block = max(1, _BLOCK_ELEMENTS // max(1, len(centers)))
    for start in range(0, n, block):
        stop = min(n, start + block)
        dots = x[start:stop] @ centers.T
        _argmin_rows(dots, x_sq[start:stop], c_sq, labels[start:stop], d2[start:stop])
    return labels, d2


@numba.njit(cache=True, nogil=True)
def _dense_center_sums(x, weights, labels, sums, totals):
    n, d = x.shape
    for i in range(n):
        j = labels[i]
        w = weights[i]
        totals[j] += w
        for c in range(d):
            sums[j, c] += w * x[i, c]


@numba.njit(cache=True, nogil=True)
def _csr_center_sums(indptr, indices, data, weights, labels, sums, totals):
    n = len(indptr) - 1
    for i in range(n):
        j = labels[i]
        w = weights[i]
        totals[j] += w
        for p in range(indptr[i], indptr[i + 1]):
            sums[j, indices[p]] += w * data[p]


def center_sums(
    x: Features, weights: np.ndarray, labels: np.ndarray, n_centers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per center j: sum_i{labels_i = j} w_i x_i (n_centers x d) and sum_i{labels_i = j} w_i."""
    sums = np.zeros((n_centers, x.shape[1]))
    totals = np.zeros(n_centers)
    if isinstance(x, CSRMatrix):
        _csr_center_sums(x.indptr, x.indices, x.data, weights, labels, sums, totals)
    else:
        _dense_center_sums(x, weights, labels, sums, totals)
    return sums, totals


def kmeans_plus_plus(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Greedy weighted k-means++ seeding (Arthur & Vassilvitskii; greedy trials as in
    scikit-learn): each new center is drawn with probability proportional to
    w_i * D(x_i)^2 among 2 + floor(ln k) candidates, keeping the candidate that lowers
    the weighted potential sum_i w_i D(x_i)^2 the most. Returns indices into points."""
    n = len(points)
    k = min(k, n)
    trials = 2 + int(math.log(k)) if k > 1 else 1
    chosen = np.empty(k, dtype=np.int64)
    p = weights / weights.sum() if weights.sum() > 0 else np.full(n, 1.0 / n)
    chosen[0] = rng.choice(n, p=p)
    closest = np.maximum(_sq_dist_to(points, points[chosen[0]]), 0.0)
    for c in range(1, k):
        mass = weights * closest
        total = mass.sum()
        if total <= 0:  # every remaining point coincides with a center
            chosen[c:] = rng.choice(n, size=k - c, replace=False)
            break
        cumulative = np.cumsum(mass)
        candidates = np.searchsorted(cumulative, rng.random(trials) * total, side="right")
        candidates = np.minimum(candidates, n - 1)
        best_pot, best_idx, best_d = np.inf, -1, closest
        for cand in candidates:
            d = np.minimum(closest, _sq_dist_to(points, points[cand]))
            pot = float(weights @ d)
            if pot < best_pot:
                best_pot, best_idx, best_d = pot, cand, d
        chosen[c] = best_idx
        closest = best_d
    return chosen


def _sq_dist_to(points: np.ndarray, center: np.ndarray) -> np.ndarray:
    diff = points - center
    return np.einsum("ij,ij->i", diff, diff)


def weighted_lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, float]:
    """Weighted Lloyd iterations from the given centers until the relative decrease of
    the weighted cost sum_i w_i min_j ||x_i - c_j||^2 is below tol, or max_iter.
    An emptied cluster is moved to the point that currently costs the most.
    Returns (centers, cost)."""
    centers = centers.copy()
    k = len(centers)
    x_sq = squared_norms(points)
    labels, d2 = nearest_centers(points, centers, x_sq)
    cost = float(weights @ d2)
    for _ in range(max_iter):
        sums, totals = center_sums(points, weights, labels, k)
        empty = totals <= 0
        centers[~empty] = sums[~empty] / totals[~empty, None]
        if empty.any():
            far = np.argsort(-(weights * d2))[: int(empty.sum())]
            centers[empty] = points[far]
        labels, d2 = nearest_centers(points, centers, x_sq)
        new_cost = float(weights @ d2)
        converged = cost - new_cost <= tol * cost
        cost = new_cost
        if converged and not empty.any():
            break
    return centers, cost


def ward_compress(
    centers: np.ndarray, weights: np.ndarray, target: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce weighted centers to at most ``target`` by merging pairs greedily, cheapest
    first. Merging i into its nearest neighbour j replaces both by their weighted mean
    and raises the k-means cost of the represented points by exactly
        w_i w_j / (w_i + w_j) * ||c_i - c_j||^2     (Ward's criterion),
    so zero-weight centers go first. Total weight and the weighted mean are preserved."""
    centers = centers.copy()
    weights = weights.copy()
    while len(centers) > target:
        m = len(centers)
        nn, nn_d2 = _nearest_other(centers)
        wi, wj = weights, weights[nn]
        denom = wi + wj
        cost = np.where(denom > 0, wi * wj / np.where(denom > 0, denom, 1.0), 0.0) * nn_d2
        keep = np.ones(m, dtype=bool)
        _greedy_merge(np.argsort(cost, kind="stable"), nn, m - target, centers, weights, keep)
        centers, weights = centers[keep], weights[keep]
    return centers, weights


def _nearest_other(centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c_sq = np.einsum("ij,ij->i", centers, centers)
    d2 = c_sq[:, None] - 2.0 * (centers @ centers.T) + c_sq[None, :]
    np.fill_diagonal(d2, np.inf)
    nn = np.argmin(d2, axis=1)
    return nn, np.maximum(d2[np.arange(len(centers)), nn], 0.0)


@numba.njit(cache=True, nogil=True)
def _greedy_merge(order, nn, needed, centers, weights, keep):
    """Merge each i (in order) into nn[i] when neither was touched this round."""
    touched = np.zeros(len(order), dtype=np.bool_)
    for i in order:
        if needed == 0:
            break
        j = nn[i]
        if touched[i] or touched[j]:
            continue
        touched[i] = True
        touched[j] = True
        total = weights[i] + weights[j]
        if total > 0:
            a = weights[i] / total
            for c in range(centers.shape[1]):
                centers[j, c] = a * centers[i, c] + (1.0 - a) * centers[j, c]
        weights[j] = total
        keep[i] = False
        needed -= 1
