"""Moments, QuantileSketches and ReservoirSample against exact
computation (no JVM): split streams, merge order, sparse input, stated error bounds."""

from functools import reduce

import numpy as np
import pytest
from datasketches import kll_doubles_sketch
from scipy import stats

from sagespark.kernels import CSRMatrix, vstack
from sagespark.states import Moments, QuantileSketches, ReservoirSample, state_from_bytes
from sagespark.states.quantiles import k_for_rank_error, rank_error


def weighted_reference(x, w):
    mean = np.average(x, axis=0, weights=w)
    m2 = w @ (x - mean) ** 2
    return mean, m2 / (w.sum() - (w @ w) / w.sum())


def split_moments(parts, weights, sparse=False):
    states = []
    for x, w in zip(parts, weights):
        states.append(Moments().update(CSRMatrix.from_dense(x) if sparse else x, w))
    return states


@pytest.mark.parametrize("sparse", [False, True])
def test_moments_of_split_streams_equal_numpy(sparse):
    rng = np.random.default_rng(0)
    x = rng.normal(1e6, 3.0, (2000, 6)) * (rng.random((2000, 6)) < 0.4)  # large offset, 60% zeros
    w = rng.uniform(0.1, 3.0, 2000)
    cuts = [0, 1, 700, 1500, 2000]
    parts = [x[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    weights = [w[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    states = split_moments(parts, weights, sparse)
    forward, backward = reduce(Moments.merge, states), reduce(Moments.merge, states[::-1])
    mean, var = weighted_reference(x, w)
    for state in (forward, backward, state_from_bytes(forward.to_bytes())):
        result = state.finalize()
        np.testing.assert_allclose(result.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(result.variance, var, rtol=1e-8)
        np.testing.assert_array_equal(result.min, x.min(0))
        np.testing.assert_array_equal(result.max, x.max(0))
        np.testing.assert_array_equal(result.num_nonzeros, np.count_nonzero(x, 0))
        assert result.count == 2000 and result.weight_sum == pytest.approx(w.sum(), rel=1e-12)


def test_moments_unit_weights_give_the_sample_variance():
    x = np.random.default_rng(1).normal(size=(50, 3))
    result = Moments().update(x).finalize()
    np.testing.assert_allclose(result.variance, x.var(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(result.std, x.std(axis=0, ddof=1), rtol=1e-12)


def test_moments_reject_a_dimension_change():
    state = Moments().update(np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected 3 features, found 4"):
        state.update(np.ones((2, 4)))


DISTRIBUTIONS = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal_skew": lambda rng, n: rng.lognormal(0, 2.0, n),
    "heavy_ties": lambda rng, n: rng.integers(0, 5, n).astype(float),
    "mostly_zero": lambda rng, n: rng.normal(size=n) * (rng.random(n) < 0.1),
}


def exact_rank_error(values, quantile, p):
    """|rank(q) - p| with the rank interval of q among the values (ties count either way)."""
    s = np.sort(values)
    lo, hi = np.searchsorted(s, quantile, "left") / len(s), np.searchsorted(s, quantile, "right") / len(s)
    return 0.0 if lo <= p <= hi else min(abs(p - lo), abs(p - hi))


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantile_rank_errors_within_the_sketch_bound(name):
    rng = np.random.default_rng(3)
    x = np.column_stack([DISTRIBUTIONS[name](rng, 60_000), rng.normal(size=60_000)])
    probabilities = np.linspace(0.0, 1.0, 41)
    states = [QuantileSketches(k=200).update(part) for part in np.array_split(x, 7)]
    merged = reduce(QuantileSketches.merge, states[::-1])
    quantiles = merged.finalize(probabilities)
    bound = rank_error(200)
    for j in range(2):
        errors = [exact_rank_error(x[:, j], q, p) for q, p in zip(quantiles[j], probabilities)]
        assert max(errors) <= bound, (name, j, max(errors), bound)
    np.testing.assert_array_equal(merged.counts(), [60_000, 60_000])


def test_sparse_sketches_count_the_implicit_zeros():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 3)) * (rng.random((300, 3)) < 0.3)
    dense = QuantileSketches(k=400).update(x).finalize([0.1, 0.5, 0.9])
    sparse = QuantileSketches(k=400).update(CSRMatrix.from_dense(x)).finalize([0.1, 0.5, 0.9])
    np.testing.assert_array_equal(dense, sparse)  # fewer rows than k: the sketch is exact
    np.testing.assert_array_equal(dense, np.quantile(x, [0.1, 0.5, 0.9], axis=0, method="inverted_cdf").T)


def test_sketch_bytes_are_datasketches_kll_bytes_and_round_trip():
    # below k rows the sketch keeps every item, so its bytes are deterministic (above,
    # KLL's compactions draw random bits that DataSketches does not let us seed)
    x = np.random.default_rng(5).normal(size=(90, 2))
    state = QuantileSketches(k=100).update(x)
    reference = kll_doubles_sketch(100)
    reference.update(np.ascontiguousarray(x[:, 1]))
    assert state.to_sql_sketches()[1] == bytes(reference.serialize())
    again = state_from_bytes(state.to_bytes())
    np.testing.assert_array_equal(again.finalize([0.25, 0.75]), state.finalize([0.25, 0.75]))
    rebuilt = QuantileSketches.from_sql_sketches(state.to_sql_sketches(), k=100)
    np.testing.assert_array_equal(rebuilt.finalize([0.5]), state.finalize([0.5]))


def test_sketches_refuse_weights_and_bad_probabilities():
    with pytest.raises(ValueError, match="weights other than 1 are not supported"):
        QuantileSketches().update(np.ones((2, 1)), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"probabilities must be in \[0, 1\]"):
        QuantileSketches().update(np.ones((2, 1))).finalize([1.5])


def test_k_for_rank_error_is_the_smallest_k_meeting_it():
    k = k_for_rank_error(0.002)
    assert rank_error(k) <= 0.002 < rank_error(k - 1)


def test_reservoir_inclusion_frequencies_follow_the_weights():
    """Sample 1 of 4 rows with weights 1:2:3:4, 4000 times, each from a split stream:
    the inclusion frequencies are w / sum(w) (chi-square, p > 0.001)."""
    x = np.arange(4.0)[:, None]
    w = np.array([1.0, 2.0, 3.0, 4.0])
    counts = np.zeros(4)
    for seed in range(4000):
        a = ReservoirSample(1, seed=seed, stream_id=0).update(x[:2], w[:2])
        b = ReservoirSample(1, seed=seed, stream_id=1).update(x[2:], w[2:])
        counts[int(a.merge(b).finalize().features[0, 0])] += 1
    assert stats.chisquare(counts, 4000 * w / w.sum()).pvalue > 0.001


def test_reservoir_merge_is_exact_and_order_free():
    rng = np.random.default_rng(6)
    x, w, labels = rng.normal(size=(900, 3)), rng.uniform(0, 2, 900), np.arange(900.0)
    parts = [ReservoirSample(50, seed=9, stream_id=i).update(x[i::3], w[i::3], labels[i::3]) for i in range(3)]
    one = reduce(ReservoirSample.merge, parts).finalize()
    other = reduce(ReservoirSample.merge, parts[::-1]).finalize()
    np.testing.assert_array_equal(one.values, other.values)
    # the merged sample is the top-50 keys of all rows: rebuild those keys independently
    keys = np.concatenate([p.keys for p in parts])
    assert len(one.weights) == 50 and set(one.values[:, 0]) <= set(labels)
    np.testing.assert_array_equal(np.sort(reduce(ReservoirSample.merge, parts).keys), np.sort(keys)[-50:])
    np.testing.assert_array_equal(one.features, x[one.values[:, 0].astype(int)])
    assert one.rows_seen == 900 and one.weight_seen == pytest.approx(w.sum())


def test_reservoir_is_deterministic_per_seed_and_keeps_sparse_rows():
    x = CSRMatrix.from_dense(np.eye(30)[:, :10] * 2.0)
    a = ReservoirSample(5, seed=1).update(x)
    b = state_from_bytes(ReservoirSample(5, seed=1).update(x).to_bytes())
    np.testing.assert_array_equal(a.finalize().features.to_dense(), b.finalize().features.to_dense())
    rows = a.finalize().features.to_dense()
    assert rows.shape == (5, 10) and all(np.any(np.all(rows[i] == x.to_dense(), axis=1)) for i in range(5))
    assert isinstance(vstack([x, x]), CSRMatrix) and vstack([x, x]).shape == (60, 10)


def test_reservoir_never_samples_zero_weights():
    x = np.arange(10.0)[:, None]
    w = np.r_[np.zeros(7), np.ones(3)]
    sample = ReservoirSample(5, seed=2).update(x, w).finalize()
    assert sorted(sample.features[:, 0]) == [7.0, 8.0, 9.0]
