"""sagespark.stat on Spark: summarize, approx_quantiles and sample against exact numpy
results, and KLL bytes exchanged with Spark SQL's kll_sketch_* functions both ways."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F
from scipy import stats

from sagespark.stat import Summary, approx_quantiles, sample, summarize
from tests.states.test_summaries import exact_rank_error


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    x = np.column_stack([rng.normal(5, 2, 4000), rng.lognormal(0, 1.5, 4000), rng.integers(0, 4, 4000)])
    return x, rng.uniform(0.5, 2.0, 4000)


@pytest.fixture(scope="module")
def df(spark, data):
    x, w = data
    rows = [(i, float(w[i]), *map(float, r), Vectors.dense(r)) for i, r in enumerate(x)]
    frame = spark.createDataFrame(rows, ["id", "w", "a", "b", "c", "vec"])
    return frame.repartitionByRange(4, "id").cache()


@pytest.mark.matrix(modes=("local", "connect"))
def test_summarize_numeric_columns_matches_numpy(df, data):
    x, w = data
    summary = summarize(df, ["a", "b", "c"], weightCol="w")
    mean = np.average(x, axis=0, weights=w)
    variance = (w @ (x - mean) ** 2) / (w.sum() - (w @ w) / w.sum())
    assert summary.names == ["a", "b", "c"] and summary.count == 4000
    assert repr(summary) == f"Summary(columns=['a', 'b', 'c'], rows=4000, rowsSkipped=0, rankError={summary.rank_error:.2g})"
    np.testing.assert_allclose(summary.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(summary.variance, variance, rtol=1e-10)
    np.testing.assert_array_equal(summary.min, x.min(0))
    np.testing.assert_array_equal(summary.max, x.max(0))
    probabilities = [0.01, 0.25, 0.5, 0.75, 0.99]
    for j, row in enumerate(summary.quantiles(probabilities)):
        assert max(exact_rank_error(x[:, j], q, p) for q, p in zip(row, probabilities)) <= summary.rank_error


def test_summarize_vector_column_names_dimensions_and_saves(df, data, tmp_path):
    x, _ = data
    summary = summarize(df, "vec", k=400)
    assert summary.names == ["vec[0]", "vec[1]", "vec[2]"]
    np.testing.assert_allclose(summary.std, x.std(axis=0, ddof=1), rtol=1e-10)
    summary.save(tmp_path / "summary.npz")
    loaded = Summary.load(tmp_path / "summary.npz")
    assert loaded.names == summary.names
    np.testing.assert_array_equal(loaded.quantiles([0.5]), summary.quantiles([0.5]))


def test_summaries_merge_across_days_and_with_sql_sketches(spark, df, data):
    x, _ = data
    day1 = summarize(df.where("id % 2 = 0"), ["a", "b"])
    day2 = summarize(df.where("id % 2 = 1"), ["a", "b"])
    both = day1.merge(day2)
    np.testing.assert_allclose(both.mean, x[:, :2].mean(0), rtol=1e-12)
    assert both.state.sketches.counts().tolist() == [4000, 4000]
    # SQL -> Python: day 2's sketches from Spark SQL merged into day 1's summary
    sql = df.where("id % 2 = 1").agg(F.expr("kll_sketch_agg_double(a) as a"), F.expr("kll_sketch_agg_double(b) as b"))
    row = sql.first()
    mixed = day1.merge_sql_sketches({"a": bytes(row["a"]), "b": bytes(row["b"])})
    assert mixed.state.sketches.counts().tolist() == [4000, 4000]
    for j, column in enumerate(mixed.quantiles([0.1, 0.5, 0.9])):
        errors = [exact_rank_error(x[:, j], q, p) for q, p in zip(column, [0.1, 0.5, 0.9])]
        assert max(errors) <= mixed.rank_error
    # Python -> SQL: our bytes read by kll_sketch_get_quantile_double / _get_n_double
    sketches = both.to_sql_sketches()
    frame = spark.createDataFrame([(bytearray(sketches["a"]),)], "s binary")
    n, median = frame.select(F.expr("kll_sketch_get_n_double(s)"), F.expr("kll_sketch_get_quantile_double(s, 0.5)")).first()
    assert n == 4000 and median == both.quantiles([0.5])[0, 0]


@pytest.mark.matrix(modes=("local", "connect"))
def test_approx_quantiles_sql_and_python_paths_within_the_bound(df, data):
    x, _ = data
    probabilities = [0.0, 0.1, 0.5, 0.9, 1.0]
    sql = approx_quantiles(df, ["a", "b", "c"], probabilities, k=300)
    python = approx_quantiles(df, ["a", "b", "c"], probabilities, k=300, method="python")
    vector = approx_quantiles(df, "vec", probabilities, k=300)
    assert (sql.method, python.method, vector.method) == ("sql", "python", "python")
    for result in (sql, python, vector):
        assert result.rankError == pytest.approx(0.0093, abs=5e-4)  # DataSketches' bound for k=300
        for j in range(3):
            errors = [exact_rank_error(x[:, j], q, p) for q, p in zip(result.quantiles[j], probabilities)]
            assert max(errors) <= result.rankError


def test_approx_quantiles_ignores_null_and_nan_like_approx_quantile(spark):
    frame = spark.createDataFrame([(1.0,), (None,), (float("nan"),), (3.0,), (2.0,)], "v double")
    assert approx_quantiles(frame, ["v"], [0.0, 0.5, 1.0]).quantiles == [[1.0, 2.0, 3.0]]
    assert frame.approxQuantile("v", [0.0, 0.5, 1.0], 0.0) == [1.0, 2.0, 3.0]


def test_sample_has_exact_size_and_weight_proportional_inclusion(spark):
    rows = [(i, float(1 + i % 4)) for i in range(1200)]
    frame = spark.createDataFrame(rows, "id long, w double").repartition(3, "id").cache()
    counts = np.zeros(4)
    for seed in range(20):
        picked = sample(frame, 60, weightCol="w", seed=seed).collect()
        assert len(picked) == 60 and len({r.id for r in picked}) == 60
        counts += np.bincount([r.id % 4 for r in picked], minlength=4)
    # 60 of 1200 is a small fraction, so inclusion ~ proportional to w = 1:2:3:4
    assert stats.chisquare(counts, counts.sum() * np.arange(1, 5) / 10).pvalue > 0.001
    again = sample(frame, 60, weightCol="w", seed=19).collect()
    assert sorted(r.id for r in again) == sorted(r.id for r in picked)


@pytest.mark.matrix(modes=("local", "connect"))
def test_sample_larger_than_the_data_and_bad_weights(spark):
    frame = spark.createDataFrame([(i, 1.0 if i else 0.0) for i in range(5)], "id long, w double")
    assert sorted(r.id for r in sample(frame, 10, weightCol="w").collect()) == [1, 2, 3, 4]
    bad = spark.createDataFrame([(1, -1.0)], "id long, w double")
    with pytest.raises(Exception, match=r"weight column 'w', partition \d+: 1 row\(s\) have a null, negative"):
        sample(bad, 1, weightCol="w").collect()


def test_a_single_column_summary_matches_numpy(df, data):
    """One column arrives as a read-only one-column view of the Arrow buffer, which the
    KLL sketches must copy (datasketches takes writable arrays only)."""
    x, _ = data
    summary = summarize(df, ["a"])
    assert summary.names == ["a"] and summary.count == 4000
    np.testing.assert_allclose(summary.mean, x[:, :1].mean(axis=0), rtol=1e-12)
    for p, q in zip((0.1, 0.5, 0.9), summary.quantiles([0.1, 0.5, 0.9])[0]):
        assert exact_rank_error(x[:, 0], q, p) <= summary.rank_error
