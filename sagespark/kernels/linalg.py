"""Products of feature rows (dense or CSR) with dense matrices, without densifying CSR.

- ``matmul(X, V)``            X V            (n x k): projections, range-finder steps
- ``add_transpose_matmul``    out += X^T Y   (d x k): sketch updates B^T += X^T H^T
- ``add_weighted_gram``       out += X^T diag(w) X (d x d): the exact covariance state

For CSR rows each is one numba loop over the stored values, so the cost is
O(nnz k) (O(sum_i nnz_i^2) for the Gram); dense rows go to BLAS.
"""

from __future__ import annotations

import numba
import numpy as np

from sagespark.kernels.sparse import CSRMatrix, Features


def matmul(x: Features, v: np.ndarray) -> np.ndarray:
    """X V for rows X (n x d) and a dense V (d x k)."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    if isinstance(x, np.ndarray):
        return x @ v
    out = np.zeros((x.shape[0], v.shape[1]))
    _csr_matmul(x.indptr, x.indices, x.data, v, out)
    return out


def add_transpose_matmul(x: Features, y: np.ndarray, out: np.ndarray) -> None:
    """out += X^T Y for rows X (n x d), dense Y (n x k) and out (d x k), in place."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    if isinstance(x, np.ndarray):
        out += x.T @ y
    else:
        _csr_transpose_matmul_add(x.indptr, x.indices, x.data, y, out)


def add_weighted_gram(x: Features, weights: np.ndarray, out: np.ndarray) -> None:
    """out += sum_i w_i x_i x_i^T (d x d), in place. Dense rows use one symmetric BLAS
    product of sqrt(w) X with itself."""
    if isinstance(x, np.ndarray):
        scaled = x * np.sqrt(weights)[:, None]
        out += scaled.T @ scaled
    else:
        _csr_gram_add(x.indptr, x.indices, x.data, weights, out)


def squared_frobenius(x: Features, weights: np.ndarray) -> float:
    """sum_i w_i ||x_i||^2."""
    if isinstance(x, np.ndarray):
        return float(weights @ np.einsum("ij,ij->i", x, x))
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    return float(np.sum(weights[rows] * x.data * x.data))


def weighted_column_sums(x: Features, weights: np.ndarray) -> np.ndarray:
    """sum_i w_i x_i (length d)."""
    if isinstance(x, np.ndarray):
        return weights @ x
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    return np.bincount(x.indices, weights[rows] * x.data, minlength=x.n_cols)


def scale_rows(x: Features, factors: np.ndarray) -> Features:
    """diag(factors) X."""
    if isinstance(x, np.ndarray):
        return x * factors[:, None]
    return CSRMatrix(x.indptr, x.indices, x.data * np.repeat(factors, np.diff(x.indptr)), x.n_cols)


@numba.njit(cache=True, nogil=True)
def _csr_matmul(indptr, indices, data, v, out):
    k = v.shape[1]
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            row = indices[p]
            for j in range(k):
                out[i, j] += a * v[row, j]


@numba.njit(cache=True, nogil=True)
def _csr_transpose_matmul_add(indptr, indices, data, y, out):
    k = y.shape[1]
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            a = data[p]
            row = indices[p]
            for j in range(k):
                out[row, j] += a * y[i, j]


@numba.njit(cache=True, nogil=True)
def _csr_gram_add(indptr, indices, data, weights, out):
    for i in range(len(indptr) - 1):
        w = weights[i]
        for p in range(indptr[i], indptr[i + 1]):
            a = w * data[p]
            row = indices[p]
            for q in range(indptr[i], indptr[i + 1]):
                out[row, indices[q]] += a * data[q]
