"""Spectral LDA's hot loops over CSR term counts (numba).

- ``random_sign_rows``: rows of the V x l random-sign test matrix Omega, each entry a
  hash of (seed, word, column), so every worker regenerates the rows it touches and
  Omega is never shipped: omega[v, j] = +1 or -1 by the top bit of
  splitmix64(seed + (v l + j + 1) * golden).
- ``signed_projection``: P = X Omega (n x l) for CSR counts X, O(nnz l).
- ``fold_in``: each document's topic mixture under fixed topics beta (V x k, one row
  per word) and prior alpha, by the fixed point

      theta_t  <-  (alpha_t + n_t(theta)) / (sum(alpha) + sum_t n_t(theta)),
      n_t(theta) = sum_v c_v theta_t beta[v, t] / sum_s theta_s beta[v, s],

  the expected topic counts of the document's tokens under theta (one EM step of the
  mixture's MAP with a Dirichlet(alpha + 1) prior, the mean of Dirichlet(alpha + n)),
  iterated until no entry moves by more than ``tol``; also the document's
  log-likelihood sum_v c_v log sum_t theta_t beta[v, t] under the final theta.
"""

from __future__ import annotations

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True, nogil=True, inline="always")
def _sign(seed: np.uint64, word: np.int64, column: np.int64, width: np.int64) -> float:
    z = seed + np.uint64(word * width + column + 1) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return 1.0 if (z >> np.uint64(63)) == np.uint64(0) else -1.0


@numba.njit(cache=True, nogil=True)
def _random_sign_rows(seed, words, width, out):
    s = np.uint64(seed)
    for i in range(len(words)):
        for j in range(width):
            out[i, j] = _sign(s, np.int64(words[i]), np.int64(j), np.int64(width))


@numba.njit(cache=True, nogil=True)
def _signed_projection(indptr, indices, data, seed, width, out):
    s = np.uint64(seed)
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            word, count = np.int64(indices[p]), data[p]
            for j in range(width):
                out[i, j] += count * _sign(s, word, np.int64(j), np.int64(width))


def random_sign_rows(seed: int, words: np.ndarray, width: int) -> np.ndarray:
    """Omega[words] (len(words) x width) of +1/-1."""
    out = np.empty((len(words), width))
    _random_sign_rows(int(seed) % 2**63, np.ascontiguousarray(words, dtype=np.int64), int(width), out)
    return out


def signed_projection(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, seed: int, width: int) -> np.ndarray:
    """X Omega for the CSR rows (indptr, indices, data)."""
    out = np.zeros((len(indptr) - 1, width))
    _signed_projection(indptr, indices, data, int(seed) % 2**63, int(width), out)
    return out


@numba.njit(cache=True, nogil=True)
def _fold_in(indptr, indices, data, word_topics, alpha, max_iter, tol, theta_out, loglik_out):
    k = alpha.shape[0]
    alpha_sum = alpha.sum()
    counts = np.empty(k)
    for d in range(len(indptr) - 1):
        theta = theta_out[d]
        theta[:] = 1.0 / k
        for _ in range(max_iter):
            counts[:] = 0.0
            for p in range(indptr[d], indptr[d + 1]):
                row = word_topics[indices[p]]
                mass = 0.0
                for t in range(k):
                    mass += theta[t] * row[t]
                if mass > 0.0:
                    factor = data[p] / mass
                    for t in range(k):
                        counts[t] += factor * theta[t] * row[t]
            total = alpha_sum + counts.sum()
            change = 0.0
            for t in range(k):
                new = (alpha[t] + counts[t]) / total
                change = max(change, abs(new - theta[t]))
                theta[t] = new
            if change <= tol:
                break
        loglik = 0.0
        for p in range(indptr[d], indptr[d + 1]):
            row = word_topics[indices[p]]
            mass = 0.0
            for t in range(k):
                mass += theta[t] * row[t]
            loglik += data[p] * np.log(mass) if mass > 0.0 else -np.inf
        loglik_out[d] = loglik


def fold_in(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, word_topics: np.ndarray, alpha: np.ndarray,
            max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(theta n x k, log-likelihood n) of the CSR documents; see the module docstring."""
    n = len(indptr) - 1
    theta, loglik = np.empty((n, len(alpha))), np.empty(n)
    _fold_in(indptr, indices, data, np.ascontiguousarray(word_topics), np.ascontiguousarray(alpha, dtype=np.float64),
             int(max_iter), float(tol), theta, loglik)  # fmt: skip
    return theta, loglik
