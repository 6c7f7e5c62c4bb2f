"""k-NN kernels against plain numpy: the blocked fused top-k equals a full sort of every
score (ties to the smaller id), the Walsh-Hadamard butterfly equals the explicit
Hadamard matrix, both projections keep pairwise distances within the
Johnson-Lindenstrauss bound, and the vote counts labels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.linalg import hadamard

from sagespark.kernels import CSRMatrix, knn
from sagespark.kernels.knn import Projection, block_search, empty_top_k, merge_top_k, vote, walsh_hadamard


def reference_top_k(queries, rows, metric, k):
    """Every score computed, then sorted by (score, id)."""
    if metric == "L2":
        scores = np.einsum("ij,ij->i", rows, rows)[None, :] - 2.0 * queries @ rows.T
    else:
        scores = -(queries @ rows.T)
    ids = np.broadcast_to(np.arange(len(rows)), scores.shape)
    order = np.lexsort((ids, scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), order


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 7 queries x 5 rows, so every path crosses block edges."""
    monkeypatch.setattr(knn, "QUERY_BLOCK", 7)
    monkeypatch.setattr(knn, "INDEX_BLOCK", 5)


@pytest.mark.parametrize("metric", ["L2", "INNER_PRODUCT"])
def test_block_search_equals_a_full_sort_with_ties_to_the_smaller_id(metric, small_blocks):
    rng = np.random.default_rng(0)
    rows = rng.integers(-2, 3, size=(60, 3)).astype(float)  # a small grid: many equal scores
    queries = rng.integers(-2, 3, size=(23, 3)).astype(float)
    scores, ids = empty_top_k(len(queries), 8)
    block_search(queries, rows, knn.row_scores_offsets(rows, metric), np.arange(60), metric, scores, ids)
    expected_scores, expected_ids = reference_top_k(queries, rows, metric, 8)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-12)


def test_block_search_into_selected_query_rows(small_blocks):
    rng = np.random.default_rng(1)
    rows, queries = rng.normal(size=(40, 4)), rng.normal(size=(9, 4))
    scores, ids = empty_top_k(20, 3)
    targets = np.array([19, 2, 5, 7, 11, 0, 13, 17, 3])
    block_search(queries, rows, knn.row_scores_offsets(rows, "L2"), np.arange(40), "L2", scores, ids, targets)
    np.testing.assert_array_equal(ids[targets], reference_top_k(queries, rows, "L2", 3)[1])
    untouched = np.setdiff1d(np.arange(20), targets)
    assert np.isinf(scores[untouched]).all() and (ids[untouched] == knn.NO_ID).all()


def test_top_k_of_parts_merges_into_the_top_k_of_the_whole():
    rng = np.random.default_rng(2)
    rows, queries = rng.normal(size=(50, 3)), rng.normal(size=(10, 3))
    parts = []
    for lo, hi in [(0, 3), (3, 30), (30, 50)]:  # the first part has fewer than k rows
        s, i = empty_top_k(10, 5)
        block_search(queries, rows[lo:hi], knn.row_scores_offsets(rows[lo:hi], "L2"), np.arange(lo, hi), "L2", s, i)
        parts.append((s, i))
    scores, ids = merge_top_k([p[0] for p in parts], [p[1] for p in parts], 5)
    np.testing.assert_array_equal(ids, reference_top_k(queries, rows, "L2", 5)[1])


def test_walsh_hadamard_is_the_hadamard_matrix():
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(5, 16))
    expected = rows @ hadamard(16)
    walsh_hadamard(rows)
    np.testing.assert_allclose(rows, expected, rtol=1e-12, atol=1e-12)


def jl_target(n: int, eps: float, beta: float = 1.0) -> int:
    """Achlioptas (2003), Theorem 1.1: with m >= (4 + 2 beta) ln n / (eps^2/2 - eps^3/3)
    +-1 projections keep every pairwise squared distance of n points within (1 +- eps)
    with probability >= 1 - n^-beta."""
    return int(np.ceil((4 + 2 * beta) * np.log(n) / (eps**2 / 2 - eps**3 / 3)))


@pytest.mark.parametrize("kind", ["sign", "fjlt"])
def test_projections_keep_pairwise_distances_within_the_jl_bound(kind):
    """Achlioptas' bound is proven for 'sign'; 'fjlt' is held to the same bound here
    (the subsampled Hadamard transform's own theorems need more rows by log factors)."""
    n, d, eps = 60, 2000, 0.5
    target = jl_target(n, eps)  # 295 for these values
    x = np.random.default_rng(4).normal(size=(n, d))
    projected = Projection(kind, d, target, seed=5).apply(x)
    assert projected.shape == (n, target)
    ratios = [np.sum((projected[i] - projected[j]) ** 2) / np.sum((x[i] - x[j]) ** 2)
              for i, j in itertools.combinations(range(n), 2)]  # fmt: skip
    assert 1 - eps <= min(ratios) and max(ratios) <= 1 + eps
    # and unbiased: the mean ratio over 1770 pairs is 1 within a few standard errors
    assert abs(np.mean(ratios) - 1) < 0.02


@pytest.mark.parametrize("kind", ["sign", "fjlt"])
def test_projection_of_sparse_rows_equals_that_of_dense_rows(kind):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, 50)) * (rng.random((30, 50)) < 0.1)
    projection = Projection(kind, 50, 12, seed=1)
    np.testing.assert_allclose(projection.apply(CSRMatrix.from_dense(x)), projection.apply(x), atol=1e-12)


def test_fjlt_is_the_sampled_scaled_hadamard_of_the_sign_flipped_rows():
    x = np.random.default_rng(7).normal(size=(4, 5))
    projection = Projection("fjlt", 5, 3, seed=2)
    signs, coords = projection._draws()
    padded = np.zeros((4, 8))
    padded[:, :5] = x * signs
    expected = (padded @ hadamard(8))[:, coords] / np.sqrt(3)
    np.testing.assert_allclose(projection.apply(x), expected, atol=1e-12)


def test_projection_checks_its_target():
    with pytest.raises(ValueError, match=r"dimensionReductionTarget must be in 1..9 \(below the 10 features\)"):
        knn.check_projection("sign", 10, 10)
    with pytest.raises(ValueError, match="dimensionReductionType must be one of"):
        knn.check_projection("pca", 10, 3)


def test_vote_counts_each_class():
    labels = np.array([[0, 1, 1, 2], [2, 2, 0, 0]], dtype=float)
    np.testing.assert_array_equal(vote(labels, 3), [[1, 2, 1], [2, 0, 2]])
