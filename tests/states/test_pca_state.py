"""PCA states against exact numpy linear algebra: the regular state to machine precision,
the sketches against their stated bounds (sagespark.states.pca)."""

from __future__ import annotations

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix, take_rows
from sagespark.states import ExactCovariance, FrequentDirections, RandomSignSketch, state_from_bytes
from sagespark.states.pca import check_regular_dimension


def low_rank_plus_noise(n=3000, d=40, rank=4, noise=0.5, offset=3.0, seed=0):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, rank)))[0]
    scores = rng.normal(size=(n, rank)) * np.linspace(10.0, 4.0, rank)
    return scores @ basis.T + noise * rng.normal(size=(n, d)) + offset


def scatter(x, w, subtract_mean=True):
    """The exact weighted scatter matrix C (numpy reference)."""
    m = w @ x / w.sum() if subtract_mean else np.zeros(x.shape[1])
    centred = x - m
    return (centred * w[:, None]).T @ centred


def exact_top(c, k):
    values, vectors = np.linalg.eigh(c)
    return values[::-1][:k], vectors[:, ::-1][:, :k]


def sin_principal_angles(a, b):
    """Sines of the principal angles between the column spaces of a and b (accurate for
    tiny angles, unlike arccos of the cosines)."""
    qa, qb = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    return np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False)


def captured(c, vectors):
    return float(np.trace(vectors.T @ c @ vectors))


def fold(make, x, w=None, parts=3, batch=250):
    """Fold rows into `parts` states (batches of `batch` rows) and merge them in order."""
    n = x.shape[0]
    w = np.ones(n) if w is None else w
    states = []
    for p, rows in enumerate(np.array_split(np.arange(n), parts)):
        state = make(p)
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            state.update(take_rows(x, chunk), w[chunk])
        states.append(state)
    merged = states[0]
    for state in states[1:]:
        merged = merged.merge(state)
    return merged


@pytest.mark.parametrize("subtract_mean", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_regular_equals_numpy_exact_pca(subtract_mean, weighted):
    x = low_rank_plus_noise()
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(x)) if weighted else np.ones(len(x))
    k = 6
    solution = fold(lambda p: ExactCovariance(x.shape[1]), x, w).finalize(k, subtract_mean)
    c = scatter(x, w, subtract_mean)
    values, vectors = exact_top(c, k)
    assert sin_principal_angles(solution.components, vectors).max() < 1e-8
    np.testing.assert_allclose(solution.eigenvalues, values, rtol=1e-10)
    np.testing.assert_allclose(solution.explained_variance, values / np.trace(c), rtol=1e-10)
    np.testing.assert_allclose(solution.mean, w @ x / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(solution.components.T @ solution.components, np.eye(k), atol=1e-12)


def test_regular_is_stable_for_a_large_offset():
    """Centring per batch and Chan's merge avoid the cancellation of X^T X - n m m^T."""
    x = low_rank_plus_noise(offset=1e6)
    w = np.ones(len(x))
    solution = fold(lambda p: ExactCovariance(x.shape[1]), x).finalize(4)
    values, vectors = exact_top(scatter(x, w), 4)
    np.testing.assert_allclose(solution.eigenvalues, values, rtol=1e-8)
    assert sin_principal_angles(solution.components, vectors).max() < 1e-6


@pytest.mark.parametrize("make", [
    lambda p: ExactCovariance(40),
    lambda p: RandomSignSketch(40, 12, seed=3, stream=(0, p)),
    lambda p: FrequentDirections(40, 12),
], ids=["regular", "randomized", "fd"])  # fmt: skip
def test_sparse_rows_equal_dense_rows(make):
    x = low_rank_plus_noise(d=40)
    x[np.random.default_rng(2).random(x.shape) < 0.6] = 0.0
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(x))
    dense, sparse = fold(make, x, w).finalize(4), fold(make, CSRMatrix.from_dense(x), w).finalize(4)
    np.testing.assert_allclose(sparse.components, dense.components, atol=1e-9)
    np.testing.assert_allclose(sparse.eigenvalues, dense.eigenvalues, rtol=1e-10)
    assert sparse.total_variance == pytest.approx(dense.total_variance, rel=1e-12)


def merge_orders(make, x):
    states = [make(p).update(x[rows]) for p, rows in enumerate(np.array_split(np.arange(len(x)), 3))]
    a, b, c = states
    return a.merge(b).merge(c), a.merge(b.merge(c)), c.merge(a).merge(b)


@pytest.mark.parametrize("make", [
    lambda p: ExactCovariance(30),
    lambda p: RandomSignSketch(30, 8, seed=1, stream=(0, p)),
], ids=["regular", "randomized"])  # fmt: skip
def test_merge_is_order_free(make):
    reference, *others = [state.finalize(4) for state in merge_orders(make, low_rank_plus_noise(n=1200, d=30))]
    for solution in others:
        assert sin_principal_angles(solution.components, reference.components).max() < 1e-9
        np.testing.assert_allclose(solution.eigenvalues, reference.eigenvalues, rtol=1e-9)


def test_frequent_directions_merge_order_changes_the_sketch_only_within_its_bound():
    """FD merges shrink at different moments in different orders; every order's sketch
    satisfies 0 <= A^T A - S^T S <= Delta I, so two orders differ by at most the larger
    Delta (and the components by little)."""
    x = low_rank_plus_noise(n=1200, d=30)
    grams = [(s.sketch.T @ s.sketch, s.error_bound) for s in merge_orders(lambda p: FrequentDirections(30, 8), x)]
    for gram, bound in grams[1:]:
        assert np.linalg.norm(gram - grams[0][0], 2) <= max(bound, grams[0][1])


@pytest.mark.parametrize("d, sparse", [(60, False), (400, False), (60, True)], ids=["column-gram", "row-gram", "csr"])
def test_frequent_directions_meets_its_deterministic_bound(d, sparse):
    """0 <= A^T A - S^T S <= Delta I and Delta <= ||A - A_k||_F^2 / (l + 1 - k) for every
    k <= l (Ghashami et al. 2016), through updates and merges; and the components capture
    at least the optimal variance minus k Delta."""
    x = low_rank_plus_noise(n=2000, d=d, rank=5, noise=1.0, offset=0.5)
    w = np.random.default_rng(4).uniform(0.5, 2.0, len(x))
    rows = 12
    state = fold(lambda p: FrequentDirections(d, rows), CSRMatrix.from_dense(x) if sparse else x, w, parts=4)
    a = x * np.sqrt(w)[:, None]
    difference = a.T @ a - state.sketch.T @ state.sketch
    eigen = np.linalg.eigvalsh(difference)
    scale = np.linalg.norm(a, 2) ** 2
    assert eigen.min() > -1e-9 * scale  # S^T S never overestimates
    assert eigen.max() <= state.error_bound * (1 + 1e-9) + 1e-9 * scale
    tail = np.linalg.svd(a, compute_uv=False) ** 2
    for k in range(0, rows + 1):
        assert state.error_bound <= tail[k:].sum() / (rows + 1 - k) * (1 + 1e-9)
    k = 5
    c = scatter(x, w)
    optimal = exact_top(c, k)[0].sum()
    assert captured(c, state.finalize(k).components) >= optimal - k * state.error_bound
    assert captured(c, state.finalize(k).components) >= 0.99 * optimal


def test_frequent_directions_on_wide_sparse_rows_stays_within_its_reported_bound():
    """Above 256 dimensions CSR rows are buffered and reduced by a randomized subspace
    iteration; the reported bound adds the mass left outside it, and still holds."""
    rng = np.random.default_rng(5)
    n, d, rows = 3000, 600, 10
    x = low_rank_plus_noise(n=n, d=d, rank=3, noise=0.1, offset=0.0, seed=6)
    x[rng.random(x.shape) < 0.8] = 0.0
    state = fold(lambda p: FrequentDirections(d, rows, seed=p), CSRMatrix.from_dense(x), parts=3, batch=500)
    state.to_arrays()  # flushes the buffer
    assert state.flushes >= 3
    difference = x.T @ x - state.sketch.T @ state.sketch
    assert np.linalg.norm(difference, 2) <= state.error_bound
    c = scatter(x, np.ones(n))
    optimal = exact_top(c, 3)[0].sum()
    assert captured(c, state.finalize(3).components) >= 0.99 * optimal


def test_randomized_sketch_meets_the_random_projection_bound():
    """E ||B_c^T B_c / l - C||_F^2 <= 2 trace(C)^2 / l for sign sketches, so by Markov
    the error exceeds 3 sqrt(2 / l) trace(C) with probability <= 1/9 (checked over 10
    seeds: at most 3 exceedances); and the components capture at least the optimal
    variance minus 2 sqrt(k) times the error (a deterministic consequence)."""
    x = low_rank_plus_noise(n=2000, d=30, rank=3, noise=0.3)
    w = np.ones(len(x))
    c = scatter(x, w)
    k, rows = 3, 20
    optimal = exact_top(c, k)[0].sum()
    exceed = 0
    for seed in range(10):
        state = fold(lambda p: RandomSignSketch(30, rows, seed=seed, stream=(0, p)), x)
        corrected = state.sketch_t - np.outer(state.sums / state.weight_sum, state.sign_sums)
        error = np.linalg.norm(corrected @ corrected.T / rows - c)
        exceed += error > 3 * np.sqrt(2 / rows) * np.trace(c)
        assert captured(c, state.finalize(k).components) >= optimal - 2 * np.sqrt(k) * error
    assert exceed <= 3


def test_finalize_checks_k_and_serialization_round_trips():
    x = low_rank_plus_noise(n=500, d=10)
    for state in (ExactCovariance(10), RandomSignSketch(10, 6), FrequentDirections(10, 6)):
        state.update(x)
        copy = state_from_bytes(state.to_bytes())
        np.testing.assert_array_equal(copy.finalize(3).components, state.finalize(3).components)
        with pytest.raises(ValueError, match="k=11 is outside|k=7 is outside"):
            state.finalize(state.max_components + 1)
    with pytest.raises(ValueError, match="cannot merge sketches of 6 and 7 rows"):
        FrequentDirections(10, 6).update(x).merge(FrequentDirections(10, 7).update(x))
    with pytest.raises(TypeError, match="cannot merge a pca_fd state with pca_regular"):
        FrequentDirections(10, 6).merge(ExactCovariance(10))


def test_randomized_sketches_with_the_same_signs_refuse_to_merge():
    x = low_rank_plus_noise(n=300, d=10)
    a = RandomSignSketch(10, 6, seed=7, stream=(0, 1)).update(x)
    b = RandomSignSketch(10, 6, seed=7, stream=(0, 1)).update(x)
    with pytest.raises(ValueError, match=r"same random signs \(seed 7, generation 0, partition 1\)"):
        a.merge(b)
    assert a.merge(RandomSignSketch(10, 6, seed=7, stream=(1, 1)).update(x)).next_generation == 2


def test_regular_refuses_a_dimension_that_would_not_fit():
    with pytest.raises(ValueError, match=r"d=70000 needs 36.5 GiB .* use algorithmMode='randomized' or 'fd'"):
        check_regular_dimension(70_000)


def test_fewer_directions_than_k_are_completed_with_zero_variance():
    x = np.zeros((50, 6))
    x[:, 0] = np.arange(50.0)  # rank one after centring
    for state in (ExactCovariance(6), FrequentDirections(6, 5), RandomSignSketch(6, 5)):
        solution = state.update(x).finalize(3)
        np.testing.assert_allclose(solution.components.T @ solution.components, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(np.abs(solution.components[:, 0]), np.eye(6)[0], atol=1e-12)
        np.testing.assert_allclose(solution.eigenvalues[1:], 0.0, atol=1e-9 * solution.eigenvalues[0])
