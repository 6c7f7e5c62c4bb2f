"""sagespark.feature against MLlib's StandardScaler, RobustScaler and QuantileDiscretizer on
the same data, plus what only a kept state gives: finalize, fitMultiple in one pass and
incremental fit."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import feature as mllib
from pyspark.ml.linalg import SparseVector, Vectors
from pyspark.ml.tuning import ParamGridBuilder
from pyspark.sql import functions as F

from sagespark.feature import QuantileDiscretizer, RobustScaler, StandardScaler


@pytest.fixture(scope="module")
def x():
    rng = np.random.default_rng(21)
    data = np.column_stack([rng.normal(3, 2, 1500), rng.exponential(2, 1500), rng.integers(0, 3, 1500), np.ones(1500)])
    # 30% zeros, a constant-or-zero column; + 0.0 turns -0.0 into 0.0 (MLlib's Bucketizer,
    # comparing as Java doubles, puts -0.0 below a 0.0 split, where numpy sees them equal)
    return data * (rng.random((1500, 4)) < 0.7) + 0.0


@pytest.fixture(scope="module")
def df(spark, x):
    rows = [(i, Vectors.dense(r), Vectors.sparse(4, {j: v for j, v in enumerate(r) if v}), *map(float, r[:3]))
            for i, r in enumerate(x)]  # fmt: skip
    return spark.createDataFrame(rows, ["id", "dense", "sparse", "a", "b", "c"]).repartitionByRange(3, "id").cache()


def outputs(frame, column="out"):
    return np.array([r[column].toArray() for r in frame.orderBy("id").select(column).collect()])


@pytest.mark.parametrize("with_mean,with_std", [(False, True), (True, True), (True, False)])
def test_standard_scaler_equals_mllib(df, with_mean, with_std):
    ours = StandardScaler(inputCol="dense", outputCol="out", withMean=with_mean, withStd=with_std).fit(df)
    theirs = mllib.StandardScaler(inputCol="dense", outputCol="out", withMean=with_mean, withStd=with_std).fit(df)
    np.testing.assert_allclose(ours.mean.toArray(), theirs.mean.toArray(), rtol=1e-12)
    np.testing.assert_allclose(ours.std.toArray(), theirs.std.toArray(), rtol=1e-12)
    np.testing.assert_allclose(outputs(ours.transform(df)), outputs(theirs.transform(df)), rtol=1e-12, atol=1e-12)


def test_standard_scaler_keeps_sparse_rows_sparse(df):
    ours = StandardScaler(inputCol="sparse", outputCol="out").fit(df).transform(df)
    theirs = mllib.StandardScaler(inputCol="sparse", outputCol="out").fit(df).transform(df)
    first = ours.orderBy("id").first()["out"]
    assert isinstance(first, SparseVector)
    np.testing.assert_allclose(outputs(ours), outputs(theirs), rtol=1e-12)


@pytest.mark.parametrize("layout", ["dense", "sparse", "array", "columns"])
def test_jvm_summarizer_moments_equal_the_python_pass_and_numpy(df, x, layout):
    """StandardScaler's state from Spark's Summarizer (sagespark.spark.jvm_states) is
    the Python pass's state, and numpy's mean, variance, min, max and non-zeros."""
    from pyspark.ml.functions import vector_to_array

    from sagespark.spark.jvm_states import summarizer_moments

    frame = df.withColumn("array", vector_to_array("dense"))
    kwargs = {"featuresCols": ["a", "b", "c"]} if layout == "columns" else {"inputCol": layout}
    estimator = StandardScaler(outputCol="out", **kwargs)
    jvm = summarizer_moments(frame, estimator.getInputCol(), estimator.getFeaturesCols(), 3 if layout == "columns" else 4)
    estimator._jvm_state = lambda *args: None  # the reference: the Python pass
    python = estimator._fit_pass(frame).state
    data = x[:, :3] if layout == "columns" else x
    for name in ("mean", "m2", "min", "max"):
        np.testing.assert_allclose(getattr(jvm, name), getattr(python, name), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jvm.finalize().variance, data.var(axis=0, ddof=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(jvm.nnz, np.count_nonzero(data, axis=0))
    np.testing.assert_array_equal(jvm.min, data.min(axis=0))
    assert (jvm.count, jvm.weight_sum, jvm.weight_sq_sum) == (python.count, python.weight_sum, python.weight_sq_sum)


_BAD_ROWS = {
    "nan": [Vectors.dense([float("nan"), 1.0, 2.0, 3.0])],
    "null": [None],
    "short": [Vectors.dense([1.0, 2.0])],
    "sparse of another size": [Vectors.sparse(5, [4], [1.0])],
    "all": [Vectors.dense([float("nan"), 1.0, 2.0, 3.0]), None, Vectors.dense([1.0, 2.0])],
}


@pytest.mark.parametrize("bad_rows", _BAD_ROWS.values(), ids=_BAD_ROWS.keys())
def test_invalid_rows_leave_the_jvm_path_to_the_python_pass(spark, df, bad_rows):
    """A NaN, a null or a row of another size, alone or together: the Summarizer's
    answer is not used, the Python pass names the problem or skips and counts the rows
    (docs/bad_input.md)."""
    from sagespark.spark.jvm_states import summarizer_moments

    rows = [(-1 - i, v) for i, v in enumerate(bad_rows)]
    bad = df.select("id", "dense").union(spark.createDataFrame(rows, df.select("id", "dense").schema))
    assert summarizer_moments(bad, "dense", None, 4) is None
    assert summarizer_moments(df, "dense", None, 5) is None  # every row has 4, a fitted model 5
    with pytest.raises(ValueError, match="column 'dense'"):
        StandardScaler(inputCol="dense").fit(bad)
    model = StandardScaler(inputCol="dense", handleInvalid="skip").fit(bad)
    assert (model.summary.numRows, model.summary.numRowsSkipped) == (1500, len(bad_rows))
    clean = StandardScaler(inputCol="dense").fit(df)
    np.testing.assert_allclose(model.std.toArray(), clean.std.toArray(), rtol=1e-12)


def exact_quantiles(x, probabilities):
    """numpy's inverted_cdf: the smallest value whose fraction of values <= it is >= p."""
    return np.quantile(x, probabilities, axis=0, method="inverted_cdf")


def rank_distance(column, a, b):
    """How many of the column's values lie between a and b (their distance in rank)."""
    s = np.sort(column)
    return abs(np.searchsorted(s, a, "right") - np.searchsorted(s, b, "right"))


def test_robust_scaler_exact_and_within_mllib_rank_error(df, x):
    kwargs = dict(inputCol="dense", outputCol="out", lower=0.1, upper=0.8, withCentering=True)
    ours, theirs = RobustScaler(**kwargs).fit(df), mllib.RobustScaler(**kwargs).fit(df)
    # 1500 rows < the sketch's k (~2800 for relativeError 0.001): the sketch holds every value
    low, median, high = exact_quantiles(x, [0.1, 0.5, 0.8])
    np.testing.assert_array_equal(ours.median.toArray(), median)
    np.testing.assert_array_equal(ours.range.toArray(), high - low)
    scaled = (x - median) * np.divide(1.0, high - low, out=np.zeros(4), where=high != low)
    np.testing.assert_allclose(outputs(ours.transform(df)), scaled, rtol=1e-12)
    # MLlib's approximate summaries answer up to relativeError x n ranks away (1 rank seen)
    for j in range(4):
        assert rank_distance(x[:, j], ours.median[j], theirs.median[j]) <= 0.001 * 1500 + 1


def test_robust_scaler_finalize_serves_other_quantiles_without_data(df, count_passes):
    model = RobustScaler(inputCol="sparse", outputCol="out").fit(df)
    wider = model.finalize(lower=0.05, upper=0.95, withCentering=True)
    direct = RobustScaler(inputCol="sparse", outputCol="out", lower=0.05, upper=0.95, withCentering=True).fit(df)
    assert len(count_passes) == 2
    np.testing.assert_array_equal(wider.range.toArray(), direct.range.toArray())
    with pytest.raises(ValueError, match="not finalize-time params"):
        model.finalize(relativeError=0.01)


def test_fit_multiple_serves_a_grid_in_one_pass(df, count_passes):
    est = StandardScaler(inputCol="dense", outputCol="out")
    grid = ParamGridBuilder().addGrid(est.withMean, [False, True]).addGrid(est.withStd, [False, True]).build()
    models = dict(est.fitMultiple(df, grid))
    assert len(count_passes) == 1 and len(models) == 4
    for i, params in enumerate(grid):
        direct = mllib.StandardScaler(inputCol="dense", outputCol="out", **{p.name: v for p, v in params.items()})
        np.testing.assert_allclose(outputs(models[i].transform(df)), outputs(direct.fit(df).transform(df)),
                                   rtol=1e-12, atol=1e-12)  # fmt: skip


def test_incremental_fit_equals_one_fit_over_both_days(df):
    day1, day2 = df.where("id % 2 = 0"), df.where("id % 2 = 1")
    first = StandardScaler(inputCol="dense").fit(day1)
    both = StandardScaler(inputCol="dense").setInitialModel(first).fit(day2)
    whole = StandardScaler(inputCol="dense").fit(df)
    assert both.summary.numRows == 1500
    np.testing.assert_allclose(both.std.toArray(), whole.std.toArray(), rtol=1e-12)


@pytest.mark.parametrize("handle_invalid", ["keep", "skip", "error"])
def test_quantile_discretizer_exact_splits_and_mllib_bucketizer_semantics(spark, df, x, handle_invalid):
    frame = df.union(df.limit(1).selectExpr("-1 as id", "dense", "sparse", "double('NaN') as a",
                                             "double('NaN') as b", "double('NaN') as c"))
    kwargs = dict(inputCols=["a", "b", "c"], outputCols=["qa", "qb", "qc"], numBucketsArray=[4, 3, 5],
                  handleInvalid=handle_invalid)  # fmt: skip
    ours, theirs = QuantileDiscretizer(**kwargs).fit(frame), mllib.QuantileDiscretizer(**kwargs).fit(frame)
    expected = []
    for j, buckets in enumerate([4, 3, 5]):  # the NaN row is ignored by fit, as in MLlib
        splits = exact_quantiles(x[:, j], np.arange(buckets + 1) / buckets)
        splits[0], splits[-1] = -np.inf, np.inf
        expected.append(np.unique(splits).tolist())
    assert ours.getSplitsArray() == expected
    for j, (mine, mllibs) in enumerate(zip(ours.getSplitsArray(), theirs.getSplitsArray())):
        assert len(mine) == len(mllibs)
        assert all(rank_distance(x[:, j], a, b) <= 0.001 * 1500 + 1 for a, b in zip(mine[1:-1], mllibs[1:-1]))
    if handle_invalid == "error":
        with pytest.raises(Exception, match="NaN"):
            ours.transform(frame).collect()
        return
    rows = ours.transform(frame).orderBy("id").select("id", "qa", "qb", "qc").collect()
    assert len(rows) == (1501 if handle_invalid == "keep" else 1500)
    if handle_invalid == "keep":
        assert [rows[0][c] for c in ("qa", "qb", "qc")] == [len(e) - 1 for e in expected]  # NaN: extra bucket
        rows = rows[1:]
    for j, name in enumerate(["qa", "qb", "qc"]):
        buckets = np.searchsorted(expected[j], x[:, j], side="right") - 1
        assert [r[name] for r in rows] == buckets.astype(float).tolist()


def test_quantile_discretizer_finalize_changes_buckets(df, x):
    model = QuantileDiscretizer(inputCol="a", outputCol="qa", numBuckets=2).fit(df)
    finer = model.finalize(numBuckets=10)
    splits = exact_quantiles(x[:, 0], np.arange(11) / 10)
    splits[0], splits[-1] = -np.inf, np.inf
    assert finer.getSplits() == np.unique(splits).tolist()
    with pytest.raises(ValueError, match="numBuckets must be >= 2"):
        model.finalize(numBuckets=1).getSplits()


def test_quantile_discretizer_saves_loads_and_tunes_in_a_pipeline(spark, df, x, tmp_path):
    """The column-input stage outside the vector-layout conformance cases: its model
    saves and loads with the same splits and buckets (and numBuckets stays
    finalize-time after loading); a Pipeline with it in a CrossValidator saves and
    loads and scores as it did."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.regression import LinearRegression
    from pyspark.ml.tuning import CrossValidator, CrossValidatorModel

    from sagespark.feature import QuantileDiscretizerModel

    model = QuantileDiscretizer(inputCols=["a", "b"], outputCols=["qa", "qb"], numBuckets=4).fit(df)
    model.write().save(str(tmp_path / "qd"))
    loaded = QuantileDiscretizerModel.load(str(tmp_path / "qd"))
    assert loaded.getSplitsArray() == model.getSplitsArray() and loaded.summary.numRows == model.summary.numRows
    assert loaded.transform(df).select("qa", "qb").collect() == model.transform(df).select("qa", "qb").collect()
    assert loaded.finalize(numBuckets=10).getSplitsArray() == model.finalize(numBuckets=10).getSplitsArray()

    frame = df.withColumn("label", F.col("a") * 2 + F.col("b"))
    discretizer = QuantileDiscretizer(inputCols=["a", "b"], outputCols=["qa", "qb"])
    pipeline = Pipeline(stages=[discretizer, VectorAssembler(inputCols=["qa", "qb"], outputCol="q"),
                                LinearRegression(featuresCol="q")])  # fmt: skip
    grid = ParamGridBuilder().addGrid(discretizer.numBuckets, [2, 8]).build()
    cv = CrossValidator(estimator=pipeline, estimatorParamMaps=grid, evaluator=RegressionEvaluator(), numFolds=2,
                        seed=3).fit(frame)  # fmt: skip
    assert cv.avgMetrics[1] < cv.avgMetrics[0]  # 8 buckets keep more of the linear signal (RMSE)
    cv.write().save(str(tmp_path / "cv"))
    again = CrossValidatorModel.load(str(tmp_path / "cv"))
    assert isinstance(again.bestModel, PipelineModel)
    assert again.transform(frame).select("prediction").collect() == cv.transform(frame).select("prediction").collect()


def test_the_dimension_comes_from_ml_attributes_else_the_first_row(spark):
    """A vector column's "ml_attr" metadata (VectorAssembler's) gives the dimension
    without a job, as MLlib's MetadataUtils.getNumFeatures reads it; without metadata
    the first non-null row gives it."""
    from pyspark.ml.feature import VectorAssembler

    from sagespark.spark.features import infer_num_features

    frame = spark.createDataFrame([(None, 1.0, 2.0), (3.0, 4.0, 5.0)], "a double, b double, c double")
    assembled = VectorAssembler(inputCols=["a", "b", "c"], outputCol="v", handleInvalid="keep").transform(frame)
    assert assembled.schema["v"].metadata["ml_attr"]["num_attrs"] == 3
    # metadata that disagrees with the rows shows which source was read
    told = assembled.select(F.col("v").alias("v", metadata={"ml_attr": {"num_attrs": 7}}))
    listed = assembled.select(F.col("v").alias("v", metadata={"ml_attr": {"attrs": {"numeric": [{"idx": 0}]}}}))
    bare = assembled.select(F.col("v").alias("v", metadata={}))
    assert [infer_num_features(d, "v", True) for d in (assembled, told, listed, bare)] == [3, 7, 1, 3]
