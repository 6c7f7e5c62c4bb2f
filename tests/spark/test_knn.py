"""KNNClassifier / KNNRegressor on Spark: exact answers against scikit-learn built on the
same sample (tie rules included), finalize and fitMultiple without data, incremental
sampling, the sharded transform, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark import cloudpickle
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from sagespark.classification import KNNClassificationModel, KNNClassifier
from sagespark.algorithms.knn import CONNECT_INLINE_INDEX_BYTES
from sagespark.regression import KNNRegressionModel, KNNRegressor
from tests.data import blobs


def frame(spark, x, labels=None, partitions=3):
    rows = [(i, Vectors.dense(r), float(labels[i]) if labels is not None else 0.0) for i, r in enumerate(x)]
    return spark.createDataFrame(rows, ["id", "features", "label"]).repartitionByRange(partitions, "id").cache()


def collected(df, *columns):
    """The columns of a transform's output, ordered by id, as numpy arrays."""
    pdf = df.select("id", *columns).toPandas().sort_values("id")
    return [np.stack([np.asarray(v.toArray() if hasattr(v, "toArray") else v, dtype=float) for v in pdf[c]])
            if pdf[c].dtype == object else pdf[c].to_numpy() for c in columns]  # fmt: skip


@pytest.fixture(scope="module")
def train(spark):
    x = blobs(1500, d=5, centers=4, seed=21, spread=3.0)
    labels = (np.arange(1500) % 3).astype(float)  # classes overlap: votes are often split
    labels[x[:, 0] > 2] = 3.0
    return x, labels, frame(spark, x, labels)


@pytest.fixture(scope="module")
def queries(spark):
    q = blobs(300, d=5, centers=4, seed=22, spread=3.0)
    return q, frame(spark, q)


def test_flat_classifier_equals_scikit_learn_on_the_same_sample(train, queries):
    _, _, df = train
    q, qdf = queries
    model = KNNClassifier(k=7, sampleSize=600, seed=2, verbose=True).fit(df)
    assert len(model.sampleLabels) == 600 and model.numClasses == 4
    reference = KNeighborsClassifier(n_neighbors=7, algorithm="brute").fit(model.sampleFeatures, model.sampleLabels)
    prediction, probability, raw, distances, neighbour_labels = collected(
        model.transform(qdf), "prediction", "probability", "rawPrediction", "distances", "neighborLabels"
    )
    np.testing.assert_array_equal(prediction, reference.predict(q))
    np.testing.assert_allclose(probability, reference.predict_proba(q), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(raw, probability * 7)
    expected_distances, expected_ids = reference.kneighbors(q)
    np.testing.assert_allclose(distances, expected_distances, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(neighbour_labels, model.sampleLabels[expected_ids])


def test_regressor_equals_scikit_learn_on_the_same_sample(spark, train, queries):
    x, _, _ = train
    target = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    df = frame(spark, x, target)
    q, qdf = queries
    model = KNNRegressor(k=5, sampleSize=1000, seed=3).fit(df)
    reference = KNeighborsRegressor(n_neighbors=5, algorithm="brute").fit(model.sampleFeatures, model.sampleLabels)
    (prediction,) = collected(model.transform(qdf), "prediction")
    np.testing.assert_allclose(prediction, reference.predict(q), rtol=1e-12)
    # the sample is made of training rows, each with its own label
    rows = {tuple(r): t for r, t in zip(x, target)}
    assert all(rows[tuple(r)] == t for r, t in zip(model.sampleFeatures, model.sampleLabels))


def test_vote_ties_go_to_the_smallest_class_like_scikit_learn(spark):
    """Points on a line; every query's 4 neighbours hold two labels twice each."""
    x = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0], [12.0], [13.0]])
    labels = np.array([2.0, 1.0, 2.0, 1.0, 0.0, 3.0, 3.0, 0.0])
    model = KNNClassifier(k=4, sampleSize=8).fit(frame(spark, x, labels, partitions=1))
    qdf = frame(spark, np.array([[1.4], [11.6]]))
    (prediction,) = collected(model.transform(qdf), "prediction")
    np.testing.assert_array_equal(prediction, [1.0, 0.0])
    reference = KNeighborsClassifier(n_neighbors=4, algorithm="brute").fit(x, labels)
    np.testing.assert_array_equal(prediction, reference.predict([[1.4], [11.6]]))


def test_equal_distances_go_to_the_earlier_sampled_row(spark):
    """Four copies of one point with labels 0..3: k=1 answers the label of the copy that
    comes first in the sample (the documented tie rule), k=2 the first two."""
    x = np.array([[1.0, 1.0]] * 4 + [[5.0, 5.0]])
    model = KNNRegressor(k=1, sampleSize=5, verbose=True, seed=9).fit(frame(spark, x, [0.0, 1.0, 2.0, 3.0, 9.0]))
    first_copies = [label for label in model.sampleLabels if label != 9.0]
    (prediction,) = collected(model.transform(frame(spark, np.array([[1.0, 1.0]]))), "prediction")
    assert prediction[0] == first_copies[0]
    (labels,) = collected(model.finalize(k=2).transform(frame(spark, np.array([[1.0, 1.0]]))), "neighborLabels")
    np.testing.assert_array_equal(labels[0], first_copies[:2])


def test_finalize_changes_k_index_and_predictor_without_data(train, queries, count_passes):
    _, _, df = train
    q, qdf = queries
    model = KNNClassifier(k=3, sampleSize=500, seed=4).fit(df)
    assert len(count_passes) == 1
    k9 = model.finalize(k=9)
    reference = KNeighborsClassifier(n_neighbors=9, algorithm="brute").fit(model.sampleFeatures, model.sampleLabels)
    np.testing.assert_array_equal(collected(k9.transform(qdf), "prediction")[0], reference.predict(q))
    regressor = model.finalize(predictorType="regressor", k=4)
    assert isinstance(regressor, KNNRegressionModel) and regressor.uid == model.uid and regressor.getK() == 4
    mean_reference = KNeighborsRegressor(n_neighbors=4, algorithm="brute").fit(model.sampleFeatures,
                                                                               model.sampleLabels)  # fmt: skip
    np.testing.assert_allclose(collected(regressor.transform(qdf), "prediction")[0], mean_reference.predict(q))
    back = regressor.finalize(predictorType="classifier")
    assert isinstance(back, KNNClassificationModel) and back.getK() == 4
    ivf = model.finalize(indexType="ivf", ivfNprobe=2)
    agreement = np.mean(collected(ivf.transform(qdf), "prediction")[0] == collected(model.transform(qdf),
                                                                                      "prediction")[0])  # fmt: skip
    assert agreement >= 0.95
    assert len(count_passes) == 1
    with pytest.raises(ValueError, match=r"k must be in 1..500 \(the sampled rows\), got 501"):
        model.finalize(k=501)
    with pytest.raises(ValueError, match="predictorType must be one of"):
        model.finalize(predictorType="ranker")


def test_fit_multiple_over_k_makes_one_pass(train, count_passes):
    _, _, df = train
    est = KNNClassifier(sampleSize=400, seed=5)
    maps = [{est.k: k} for k in (1, 5, 11)]
    models = dict(est.fitMultiple(df, maps))
    assert len(count_passes) == 1
    assert [models[i].getK() for i in range(3)] == [1, 5, 11]
    np.testing.assert_array_equal(models[0].sampleFeatures, models[2].sampleFeatures)


def test_incremental_fit_merges_an_exact_sample_of_both_days(spark):
    """Day 2 holds 3/4 of all rows, so a sample of 400 from the union holds a
    hypergeometric number of day-2 rows: mean 300, sd ~7.5; the bound is 5 sd."""
    day1 = frame(spark, np.c_[np.zeros(1000), np.arange(1000.0)], np.zeros(1000))
    day2 = frame(spark, np.c_[np.ones(3000), np.arange(3000.0)], np.ones(3000))
    first = KNNRegressor(sampleSize=400, seed=6).fit(day1)
    merged = KNNRegressor(sampleSize=400, seed=6).setInitialModel(first).fit(day2)
    assert merged.summary.numRows == 4000 and len(merged.sampleLabels) == 400
    assert merged.state.generation == 1
    assert abs(merged.sampleLabels.sum() - 300) < 5 * 7.5
    assert len({tuple(r) for r in merged.sampleFeatures}) == 400  # no row sampled twice


def test_rows_of_weight_zero_are_never_sampled(spark):
    x = np.arange(40.0)[:, None]
    df = frame(spark, x, np.arange(40.0)).withColumn("w", (F.col("id") >= 30).cast("double"))
    model = KNNRegressor(sampleSize=20, weightCol="w").fit(df)
    assert sorted(model.sampleLabels) == list(range(30, 40))


@pytest.mark.matrix
@pytest.mark.parametrize("index_type", ["flat", "ivf"])
def test_sharded_transform_equals_the_local_one(spark, train, queries, index_type):
    _, _, df = train
    q, qdf = queries
    bad = spark.createDataFrame([(1000, None, 0.0)], qdf.schema)
    dirty = qdf.union(bad)
    model = KNNClassifier(k=6, sampleSize=700, seed=7, verbose=True, indexType=index_type, ivfNprobe=3,
                          handleInvalid="skip").fit(df)  # fmt: skip
    sharded = model.finalize(maxLocalIndexBytes=model.index.nbytes // 4)
    assert len(model.index.shards(sharded.getOrDefault(sharded.maxLocalIndexBytes))) >= 4
    columns = ("prediction", "probability", "distances", "neighborLabels")
    local = model.transform(dirty).orderBy("id").toPandas()
    remote = sharded.transform(dirty).orderBy("id").toPandas()
    assert list(remote.columns) == list(local.columns) and len(remote) == 301
    assert remote["prediction"].iloc[-1] is None or np.isnan(remote["prediction"].iloc[-1])
    for column in columns:
        for a, b in zip(local[column].iloc[:-1], remote[column].iloc[:-1]):
            np.testing.assert_array_equal(np.asarray(a.toArray() if hasattr(a, "toArray") else a),
                                          np.asarray(b.toArray() if hasattr(b, "toArray") else b))  # fmt: skip


@pytest.mark.matrix(modes=("local", "connect"))
def test_spark_connect_shards_indexes_too_large_to_inline(spark, train):
    """On Connect the index travels inside the query plan: above 64 MiB it is sharded."""
    _, _, df = train
    model = KNNClassifier(k=3, sampleSize=50, seed=1).fit(df)
    connect = type(spark).__module__.startswith("pyspark.sql.connect")
    assert model._local_index_limit(df) == (CONNECT_INLINE_INDEX_BYTES if connect else 1 << 30)
    assert model.finalize(maxLocalIndexBytes=1000)._local_index_limit(df) == 1000


def test_the_pickled_transform_carries_a_broadcast_not_the_index(train, queries):
    _, _, df = train
    _, qdf = queries
    model = KNNClassifier(sampleSize=1500).fit(df)
    shipped = model._shipped(model.index, qdf)
    assert model.index.nbytes > 50_000 and len(cloudpickle.dumps(shipped)) < 2_000
    assert shipped.get() is shipped.get()  # decoded once per process


def test_bad_input_is_a_clear_error(spark, train):
    _, _, df = train
    model = KNNRegressor(k=3, sampleSize=100).fit(df)
    wrong_dimension = frame(spark, np.ones((5, 4)), partitions=1)
    with pytest.raises(Exception, match="column 'features', partition 0: 5 row\\(s\\) have dimension 4, expected 5"):
        model.transform(wrong_dimension).collect()
    nan_query = frame(spark, np.full((2, 5), np.nan), partitions=1)
    with pytest.raises(Exception, match="2 row\\(s\\) contain NaN or infinity"):
        model.transform(nan_query).collect()
    with pytest.raises(ValueError, match=r"k must be in 1..100 \(the sampled rows\), got 200"):
        KNNRegressor(k=200, sampleSize=100).fit(df)
    fractional = frame(spark, np.ones((4, 2)), [0.0, 1.5, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"column 'label', partition \d: 1 row\(s\) have an invalid label \(first: "
                                         r"1.5\), expected a class index \(an integer >= 0\)"):  # fmt: skip
        KNNClassifier(k=1, sampleSize=10).fit(fractional)
    with pytest.raises(ValueError, match="sampleSize must be > 0"):
        KNNClassifier(sampleSize=0).fit(df)
