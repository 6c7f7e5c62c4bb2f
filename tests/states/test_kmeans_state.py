"""The algebra of the k-means state (no JVM): split streams, merge order, purity,
exact weight/mean bookkeeping, and quality against scikit-learn."""

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from sagespark.kernels import CSRMatrix
from sagespark.states import KMeansState, state_from_bytes
from tests.data import blobs, kmeans_cost


def fitted(x, k=5, **kw):
    return KMeansState(k, seed=7, mini_batch_size=500, **kw).update(x)


def test_split_stream_at_batch_boundary_equals_whole_stream():
    x = blobs(3000)
    whole = fitted(x)
    split = KMeansState(5, seed=7, mini_batch_size=500).update(x[:1500]).update(x[1500:])
    np.testing.assert_array_equal(whole.centers, split.centers)
    np.testing.assert_array_equal(whole.weights, split.weights)


def test_split_stream_anywhere_gives_the_same_quality():
    x = blobs(3000)
    whole = kmeans_cost(x, fitted(x).finalize().centers)
    split = KMeansState(5, seed=7, mini_batch_size=500).update(x[:1234]).update(x[1234:])
    assert kmeans_cost(x, split.finalize().centers) == pytest.approx(whole, rel=0.01)


def test_update_and_merge_preserve_total_weight_and_weighted_mean_exactly():
    x = blobs(4000)
    w = np.random.default_rng(0).random(len(x)) + 0.5
    a = KMeansState(5, seed=1, mini_batch_size=300).update(x[:2500], w[:2500])
    b = KMeansState(5, seed=2, mini_batch_size=300).update(x[2500:], w[2500:])
    for state in (a.merge(b), b.merge(a)):
        assert state.weights.sum() == pytest.approx(w.sum(), rel=1e-12)
        np.testing.assert_allclose(state.weights @ state.centers, w @ x, rtol=1e-9, atol=1e-6)
        assert len(state.centers) <= state.capacity


def test_merge_is_order_free_and_associative_within_tolerance():
    x = blobs(6000, centers=6)
    parts = [KMeansState(6, seed=s, stream_id=s, mini_batch_size=500).update(p)
             for s, p in enumerate(np.array_split(x, 3))]
    a, b, c = parts
    costs = [kmeans_cost(x, s.finalize().centers)
             for s in (a.merge(b).merge(c), c.merge(b).merge(a), a.merge(b.merge(c)))]
    assert max(costs) == pytest.approx(min(costs), rel=0.02)


def test_merge_leaves_its_inputs_unchanged():
    x = blobs(2000)
    a, b = fitted(x[:1000]), fitted(x[1000:])
    before = (a.to_bytes(), b.to_bytes())
    a.merge(b)
    assert (a.to_bytes(), b.to_bytes()) == before


def test_finalize_is_pure_and_repeatable():
    state = fitted(blobs(3000))
    before = state.to_bytes()
    first, second = state.finalize(), state.finalize()
    np.testing.assert_array_equal(first.centers, second.centers)
    assert state.to_bytes() == before


def test_finalize_serves_any_k_up_to_capacity():
    x = blobs(3000)
    state = fitted(x, k=5)
    costs = [kmeans_cost(x, state.finalize(k).centers) for k in (2, 5, 10, state.capacity // 2)]
    assert costs == sorted(costs, reverse=True)
    with pytest.raises(ValueError, match="exceeds this state's capacity of 50 centers"):
        state.finalize(51)


@pytest.mark.parametrize("init_method", ["random", "kmeans++"])
def test_cost_close_to_scikit_learn(init_method):
    """Within 2% of scikit-learn's k-means++ + Lloyd to convergence (best of 10 inits)."""
    x = blobs(20000, d=8, centers=10, seed=3)
    for k in (5, 10, 20):
        state = KMeansState(k, seed=0, init_method=init_method).update(x)
        ours = kmeans_cost(x, state.finalize().centers)
        reference = SkKMeans(k, n_init=10, random_state=0).fit(x).inertia_
        assert ours <= 1.02 * reference, (k, ours / reference)


def test_sparse_input_gives_the_same_state_as_dense():
    x = blobs(2000)
    x[np.abs(x) < 2.0] = 0.0
    dense, sparse = fitted(x), fitted(CSRMatrix.from_dense(x))
    np.testing.assert_allclose(dense.centers, sparse.centers, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dense.weights, sparse.weights, rtol=1e-12)


def test_half_life_decays_old_weight_geometrically():
    """W <- W * 0.5^(b / h) + b per mini-batch of weight b (hand-worked recurrence)."""
    x = blobs(2000)
    state = KMeansState(5, seed=1, mini_batch_size=500, half_life_time_size=1000).update(x)
    expected = 0.0
    for _ in range(4):
        expected = expected * 0.5 ** (500 / 1000) + 500
    assert state.weights.sum() == pytest.approx(expected, rel=1e-12)


def test_bytes_round_trip_without_pickle():
    state = fitted(blobs(1000), k=3, init_method="kmeans++", half_life_time_size=10)
    restored = state_from_bytes(state.to_bytes())
    assert restored.to_bytes() == state.to_bytes()
    assert KMeansState.from_bytes(state.to_bytes()).init_method == "kmeans++"


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="initMethod must be one of"):
        KMeansState(3, init_method="fancy")
    with pytest.raises(ValueError, match="extraCenterFactor must be 'auto' or an integer >= 1"):
        KMeansState(3, extra_center_factor=0)
    state = fitted(blobs(100, d=4))
    with pytest.raises(ValueError, match="expected 4 features, found 3"):
        state.update(np.zeros((5, 3)))
