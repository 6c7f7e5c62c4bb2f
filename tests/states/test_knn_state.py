"""The k-NN state and index without Spark: weighted inclusion frequencies through merges
and incremental generations, the flat index against scikit-learn, ivf recall on
clustered data (and ivf probing every list equal to flat), shards that merge into
the whole index, and byte round trips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.neighbors import NearestNeighbors

from sagespark.kernels import CSRMatrix
from sagespark.kernels.knn import merge_top_k
from sagespark.states import IndexConfig, KNNIndex, KNNSample, state_from_bytes
from sagespark.states.knn import generation_seed
from tests.data import blobs


def inclusion_of_two(w: np.ndarray) -> np.ndarray:
    """P(row i is in a weighted sample of 2 without replacement) = p_i + sum_{j != i}
    p_j w_i / (W - w_j), with p = w / W (successive sampling, which A-Res realizes)."""
    total = w.sum()
    p = w / total
    return np.array([p[i] + sum(p[j] * w[i] / (total - w[j]) for j in range(len(w)) if j != i)
                     for i in range(len(w))])  # fmt: skip


def test_inclusion_frequencies_follow_the_weights_through_merges_and_generations():
    """Rows 0-2 fitted first (two partitions, generation 0), rows 3-4 later (an
    incremental fit, generation 1), merged: 3000 repetitions, chi-square p > 0.001."""
    x = np.arange(5.0)[:, None]
    w = np.array([1.0, 2.0, 3.0, 1.5, 4.0])
    counts = np.zeros(5)
    for repetition in range(3000):
        first = generation_seed(repetition, 0)
        day1 = KNNSample(2, first, 0).update(x[:1], w[:1], x[:1, 0]).merge(
            KNNSample(2, first, 1).update(x[1:3], w[1:3], x[1:3, 0])
        )
        day2 = KNNSample(2, generation_seed(repetition, 1), 0, generation=1).update(x[3:], w[3:], x[3:, 0])
        merged = day1.merge(day2)
        assert merged.generation == 1
        counts[merged.labels.astype(int)] += 1
    expected = 3000 * inclusion_of_two(w)
    assert stats.chisquare(counts, expected * counts.sum() / expected.sum()).pvalue > 0.001


def test_sample_keeps_labels_with_their_rows_and_round_trips():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    sample = KNNSample(50, seed=3).update(x, labels=np.arange(300.0))
    np.testing.assert_array_equal(sample.features, x[sample.labels.astype(int)])
    again = state_from_bytes(sample.to_bytes())
    assert isinstance(again, KNNSample) and again.generation == 0
    np.testing.assert_array_equal(again.features, sample.features)
    np.testing.assert_array_equal(again.labels, sample.labels)
    with pytest.raises(ValueError, match="a label per row"):
        KNNSample(5).update(x)


def test_a_stream_of_dense_and_sparse_batches_is_kept_sparse():
    x = np.eye(6)
    sample = KNNSample(10).update(x[:3], labels=np.zeros(3)).update(CSRMatrix.from_dense(x[3:]), labels=np.ones(3))
    assert isinstance(sample.features, CSRMatrix)
    np.testing.assert_array_equal(np.sort(sample.features.to_dense(), axis=0), np.sort(x, axis=0))


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_flat_index_equals_scikit_learn_brute_force(metric):
    x = blobs(2000, d=8, centers=5, seed=1)
    queries = blobs(300, d=8, centers=5, seed=2)
    sample = KNNSample(2000).update(x, labels=np.zeros(2000))
    index = sample.finalize(IndexConfig(metric=metric))
    scores, ids, q_sq = index.search(queries, 7)
    reference = NearestNeighbors(n_neighbors=7, algorithm="brute", metric="euclidean" if metric == "L2" else "cosine")
    distances, expected = reference.fit(sample.features).kneighbors(queries)
    np.testing.assert_array_equal(ids, expected)
    found = index.distances(scores, q_sq)
    np.testing.assert_allclose(found if metric == "L2" else 1 - found, distances, atol=1e-6)


def test_inner_product_index_ranks_by_the_largest_product():
    rng = np.random.default_rng(3)
    x, queries = rng.normal(size=(500, 6)), rng.normal(size=(40, 6))
    sample = KNNSample(500).update(x, labels=np.zeros(500))
    index = sample.finalize(IndexConfig(metric="INNER_PRODUCT"))
    scores, ids, q_sq = index.search(queries, 5)
    products = queries @ sample.features.T
    np.testing.assert_array_equal(ids, np.argsort(-products, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(index.distances(scores, q_sq), -np.sort(-products, axis=1)[:, :5], atol=1e-12)


def test_ivf_recall_at_the_default_nprobe_on_clustered_data():
    from sagespark.algorithms.knn import DEFAULT_NPROBE

    x = blobs(20_000, d=16, centers=20, seed=4)
    queries = blobs(2000, d=16, centers=20, seed=5)
    sample = KNNSample(20_000, seed=1).update(x, labels=np.zeros(20_000))
    flat = sample.finalize(IndexConfig())
    ivf = sample.finalize(IndexConfig(index_type="ivf", seed=1))
    assert ivf.nlists == 141  # round(sqrt(20,000))
    _, exact, _ = flat.search(queries, 10)
    _, found, _ = ivf.search(queries, 10, DEFAULT_NPROBE)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)])
    assert recall >= 0.95
    # probing every list is an exact search
    scores_all, found_all, _ = ivf.search(queries, 10, ivf.nlists)
    np.testing.assert_array_equal(found_all, exact)


def test_ivf_probes_more_lists_until_they_hold_k_rows():
    x = blobs(400, d=3, centers=4, seed=6)
    index = KNNSample(400).update(x, labels=np.zeros(400)).finalize(IndexConfig(index_type="ivf", nlists=40))
    k = int(index.list_sizes.max()) + 5  # more than any single list holds
    lists, queries = index.probes(x[:50], k, nprobe=1)
    held = np.bincount(queries, weights=index.list_sizes[lists], minlength=50)
    assert (held >= k).all()
    _, ids, _ = index.search(x[:50], k, nprobe=1)
    assert (ids != np.iinfo(np.int64).max).all()


@pytest.mark.parametrize("index_type", ["flat", "ivf"])
def test_shards_searched_and_merged_equal_the_whole_index(index_type):
    x = blobs(3000, d=5, centers=6, seed=7)
    sample = KNNSample(3000).update(x, labels=np.arange(3000.0))
    index = sample.finalize(IndexConfig(index_type=index_type))
    shards = index.shards(index.nbytes // 5)
    assert len(shards) >= 4 and sum(s.size for s in shards) == index.size
    queries = blobs(200, d=5, centers=6, seed=8)
    scores, ids, _ = index.search(queries, 6, 3)
    parts = [KNNIndex.from_bytes(s.to_bytes()).search(queries, 6, 3) for s in shards]
    merged_scores, merged_ids = merge_top_k([p[0] for p in parts], [p[1] for p in parts], 6)
    np.testing.assert_array_equal(merged_ids, ids)
    np.testing.assert_array_equal(merged_scores, scores)
    np.testing.assert_array_equal(index.labels_of(ids), sample.labels[ids])  # ids are positions in the sample
    shard = shards[0]  # asked for more neighbours than it holds: NO_ID, with a NaN label
    _, short_ids, _ = shard.search(queries[:3], shard.size + 2)
    assert (short_ids[:, -2:] == np.iinfo(np.int64).max).all() and np.isnan(shard.labels_of(short_ids)[:, -2:]).all()


@pytest.mark.parametrize("kind", ["sign", "fjlt"])
def test_projected_index_searches_the_projected_rows(kind):
    x = blobs(500, d=20, centers=4, seed=9)
    sample = KNNSample(500).update(x, labels=np.zeros(500))
    index = sample.finalize(IndexConfig(reduction=kind, target=6, seed=2))
    assert index.vectors.shape == (500, 6)
    projected = index.projection.apply(x[:30])
    reference = NearestNeighbors(n_neighbors=4, algorithm="brute").fit(index.projection.apply(sample.features))
    np.testing.assert_array_equal(index.search(x[:30], 4)[1], reference.kneighbors(projected)[1])


def test_index_config_errors_name_the_param():
    sample = KNNSample(10).update(np.eye(4), labels=np.zeros(4))
    with pytest.raises(ValueError, match="indexMetric must be one of"):
        sample.finalize(IndexConfig(metric="L1"))
    with pytest.raises(ValueError, match="indexType must be one of"):
        sample.finalize(IndexConfig(index_type="hnsw"))
    with pytest.raises(ValueError, match="ivfNlists must be 'auto' or >= 1"):
        sample.finalize(IndexConfig(index_type="ivf", nlists=0))


def test_ivf_over_fewer_distinct_rows_than_lists_makes_fewer_lists():
    x = np.repeat(np.eye(3), 10, axis=0)  # 30 rows, 3 distinct points
    index = KNNSample(30).update(x, labels=np.zeros(30)).finalize(IndexConfig(index_type="ivf", nlists=10))
    assert index.nlists == 3 and sorted(index.list_sizes) == [10, 10, 10]
