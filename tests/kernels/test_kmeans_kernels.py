import numpy as np
import pytest

from sagespark.kernels import CSRMatrix, take_rows, row_slice
from sagespark.kernels.kmeans import (
    center_sums,
    kmeans_plus_plus,
    nearest_centers,
    ward_compress,
    weighted_lloyd,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 7))
    x[rng.random(x.shape) < 0.6] = 0.0  # sparse-ish, for the CSR path
    return x, rng.normal(size=(11, 7))


def brute_nearest(x, centers):
    d2 = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    return d2.argmin(1), d2.min(1)


@pytest.mark.parametrize("sparse", [False, True])
def test_nearest_centers_matches_brute_force(data, sparse):
    x, centers = data
    labels, d2 = nearest_centers(CSRMatrix.from_dense(x) if sparse else x, centers)
    ref_labels, ref_d2 = brute_nearest(x, centers)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_center_sums_match_masked_sums(data, sparse):
    x, _ = data
    labels = np.arange(len(x)) % 5
    w = np.linspace(0.5, 2.0, len(x))
    sums, totals = center_sums(CSRMatrix.from_dense(x) if sparse else x, w, labels, 5)
    for j in range(5):
        np.testing.assert_allclose(sums[j], (w[labels == j, None] * x[labels == j]).sum(0), rtol=1e-12)
        assert totals[j] == pytest.approx(w[labels == j].sum(), rel=1e-12)


def test_csr_row_operations_match_dense(data):
    x, _ = data
    csr = CSRMatrix.from_dense(x)
    np.testing.assert_array_equal(row_slice(csr, 10, 40).to_dense(), x[10:40])
    rows = np.array([5, 1, 250, 7])
    np.testing.assert_array_equal(take_rows(csr, rows).to_dense(), x[rows])
    mask = np.arange(len(x)) % 3 == 0
    np.testing.assert_array_equal(take_rows(csr, mask).to_dense(), x[mask])


def test_ward_compress_preserves_weight_and_mean_and_merges_cheapest():
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(50, 3))
    weights = rng.random(50) * 10
    weights[:5] = 0.0
    out, w = ward_compress(centers, weights, 20)
    assert len(out) == 20
    assert w.sum() == pytest.approx(weights.sum(), rel=1e-12)
    np.testing.assert_allclose(w @ out, weights @ centers, rtol=1e-10)
    # Hand-worked: two far groups of two close points -> each pair merges to its mean.
    pts = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 3.0]])
    out, w = ward_compress(pts, np.array([1.0, 3.0, 2.0, 2.0]), 2)
    order = np.argsort(out[:, 0])
    np.testing.assert_allclose(out[order], [[0.0, 0.75], [10.0, 1.5]])
    np.testing.assert_allclose(w[order], [4.0, 4.0])


def test_kmeans_plus_plus_never_picks_zero_weight_points():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(100, 2))
    w = np.zeros(100)
    w[::4] = 1.0
    chosen = kmeans_plus_plus(pts, w, 10, rng)
    assert len(set(chosen.tolist())) == 10
    assert (w[chosen] > 0).all()


def test_weighted_lloyd_equals_lloyd_on_repeated_points():
    """Weight 3 on a point must act exactly like three copies of it."""
    rng = np.random.default_rng(4)
    pts = rng.normal(size=(40, 2))
    w = rng.integers(1, 4, 40).astype(float)
    start = pts[:3].copy()
    c_weighted, cost_weighted = weighted_lloyd(pts, w, start, 100, 0.0)
    repeated = np.repeat(pts, w.astype(int), axis=0)
    c_plain, cost_plain = weighted_lloyd(repeated, np.ones(len(repeated)), start, 100, 0.0)
    np.testing.assert_allclose(c_weighted, c_plain, rtol=1e-10)
    assert cost_weighted == pytest.approx(cost_plain, rel=1e-10)
