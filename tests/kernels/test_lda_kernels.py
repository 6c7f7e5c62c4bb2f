"""Spectral LDA's kernels (sagespark.kernels.lda) against numpy and scipy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from sagespark.kernels import CSRMatrix
from sagespark.kernels.lda import fold_in, random_sign_rows, signed_projection


def test_random_signs_are_a_function_of_seed_word_and_column():
    rows = random_sign_rows(7, np.arange(500), 16)
    assert set(np.unique(rows)) == {-1.0, 1.0}
    assert abs(rows.mean()) < 0.02  # 8000 fair signs: 3 standard deviations is 0.034
    np.testing.assert_array_equal(random_sign_rows(7, np.array([3, 499, 3]), 16), rows[[3, 499, 3]])
    assert not np.array_equal(random_sign_rows(8, np.arange(500), 16), rows)
    gram = rows.T @ rows / 500
    assert np.abs(gram - np.eye(16)).max() < 0.2  # nearly orthogonal columns


def test_signed_projection_is_the_dense_product():
    rng = np.random.default_rng(0)
    x = rng.poisson(0.3, size=(30, 50)).astype(np.float64)
    csr = CSRMatrix.from_dense(x)
    np.testing.assert_allclose(signed_projection(csr.indptr, csr.indices, csr.data, 11, 6),
                               x @ random_sign_rows(11, np.arange(50), 6), atol=1e-12)  # fmt: skip


def map_objective(theta, counts, beta, alpha):
    """The fold-in's objective: log p(c | theta, beta) + sum_t alpha_t log theta_t (the
    MAP under a Dirichlet(alpha + 1) prior, whose EM steps the kernel iterates)."""
    return counts @ np.log(beta @ theta) + alpha @ np.log(theta)


@pytest.mark.parametrize("alpha_value", [0.05, 0.5])
def test_fold_in_reaches_the_maximum_a_scipy_optimizer_finds(alpha_value):
    rng = np.random.default_rng(1)
    beta = rng.dirichlet(np.full(40, 0.3), size=4).T  # words x topics
    alpha = np.full(4, alpha_value)
    x = rng.poisson(0.8, size=(5, 40)).astype(np.float64)
    csr = CSRMatrix.from_dense(x)
    theta, loglik = fold_in(csr.indptr, csr.indices, csr.data, beta, alpha, 2000, 1e-12)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(loglik, [c @ np.log(beta @ t) for c, t in zip(x, theta)], rtol=1e-12)
    for counts, found in zip(x, theta):
        best = minimize(lambda z: -map_objective(np.exp(z) / np.exp(z).sum(), counts, beta, alpha), np.zeros(4),
                        method="BFGS", options={"gtol": 1e-10})  # fmt: skip
        reference = np.exp(best.x) / np.exp(best.x).sum()
        assert map_objective(found, counts, beta, alpha) >= map_objective(reference, counts, beta, alpha) - 1e-7


def test_fold_in_of_an_empty_document_is_the_prior_mean():
    beta = np.full((3, 2), 1 / 3)
    theta, loglik = fold_in(np.array([0, 0]), np.array([], dtype=np.int32), np.array([]), beta, np.array([1.0, 3.0]),
                            50, 1e-9)  # fmt: skip
    np.testing.assert_allclose(theta, [[0.25, 0.75]])
    assert loglik[0] == 0.0
