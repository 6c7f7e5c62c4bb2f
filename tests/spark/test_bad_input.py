"""The bad-input table of docs/bad_input.md, checked for every stage of the conformance
suite: each bad input gives exactly the documented error at fit."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

# once per stage (the input layer is shared by a stage's modes); the label rules once per case
from tests.spark.conformance import every_case, every_stage
SKIP_HINT = " Set handleInvalid='skip' to drop such rows and count them."


def rows_frame(spark, case, features, labels=None):
    """A one-partition frame with an 'arr' column (and 'label' for supervised stages)."""
    supervised = case.labels is not None
    fields = [StructField("arr", ArrayType(DoubleType()))] + ([StructField("label", DoubleType())] if supervised else [])
    if supervised and labels is None:
        clean = np.array([r for r in features if r is not None and len(r) == 4 and np.isfinite(r).all()])
        good = case.labels(clean) if len(clean) else []
        labels = [float(good[0]) if len(good) else 0.0] * len(features)
    rows = [([float(v) for v in r] if r is not None else None, *([labels[i]] if supervised else []))
            for i, r in enumerate(features)]  # fmt: skip
    return spark.createDataFrame(rows, StructType(fields)).coalesce(1).cache()


def clean_rows(case, n=40):
    return [r for r in np.round(case.data()[:n] * 64) / 64]


def fit_error(case, df, **params) -> str:
    with pytest.raises(ValueError) as info:
        case.make(**{case.input_param: "arr"}, **params).fit(df)
    return str(info.value)


@every_stage
def test_nan_and_infinity(case, spark):
    """(A null row: test_conformance.py::test_handle_invalid checks that message.)"""
    df = rows_frame(spark, case, clean_rows(case) + [np.array([1.0, np.nan, 0.0, 0.0]), np.array([np.inf, 0, 0, 0])])
    assert fit_error(case, df) == "column 'arr', partition 0: 2 row(s) contain NaN or infinity." + SKIP_HINT


@every_stage
def test_wrong_and_mixed_sizes(case, spark):
    """The dimension is the first row's; rows of any other size are invalid."""
    df = rows_frame(spark, case, clean_rows(case) + [np.ones(5), np.ones(3), np.ones(5)])
    assert fit_error(case, df) == "column 'arr', partition 0: 3 row(s) have dimension 5, expected 4." + SKIP_HINT


@every_stage
def test_all_rows_skipped(case, spark):
    df = rows_frame(spark, case, [np.full(4, np.nan)] * 5)
    assert fit_error(case, df, handleInvalid="skip") == (
        "no valid rows to fit: all 5 row(s) were skipped as invalid (handleInvalid='skip')"
    )


@every_stage
def test_empty_dataframe(case, spark):
    df = rows_frame(spark, case, [])
    assert fit_error(case, df) == "the dataset has no rows with features"


@every_stage
def test_string_columns_where_numbers_are_expected(case, spark):
    schema = StructType([StructField("name", StringType()), StructField("arr", ArrayType(DoubleType())),
                         StructField("label", DoubleType()), StructField("answer", StringType())])  # fmt: skip
    df = spark.createDataFrame([("a", [1.0, 2.0, 3.0, 4.0], 0.0, "yes")], schema)
    with pytest.raises(ValueError) as info:
        case.make(**{case.input_param: "name"}).fit(df)
    assert str(info.value) == (
        "column 'name' must be a vector or a numeric array, found string; or set featuresCols to numeric columns"
    )
    with pytest.raises(ValueError) as info:
        case.make(featuresCols=["name"]).fit(df)
    assert str(info.value) == "featuresCols column 'name' must be numeric, found string"
    if case.labels is not None:
        assert fit_error(case, df, labelCol="answer") == "label column 'answer' must be numeric, found string"


@every_stage
def test_a_missing_features_column_lists_the_columns(case, spark):
    df = rows_frame(spark, case, clean_rows(case, 3))
    with pytest.raises(ValueError) as info:
        case.make(**{case.input_param: "nope"}).fit(df)
    assert str(info.value) == f"column 'nope' not found; the dataset has {df.columns}"


@every_case
def test_labels_out_of_range(case, spark):
    if case.labels is None:
        pytest.skip("unsupervised stage")
    rows = clean_rows(case)
    labels = [float(v) for v in case.labels(np.array(rows))]
    labels[3] = -1.0
    expected = {
        "LinearLearnerClassifier-binary": "0 or 1",
        "FMClassifier": "0 or 1",
        "LinearLearnerClassifier-multiclass": "an integer in 0..2 (numClasses=3)",
        "KNNClassifier": "a class index (an integer >= 0)",
        "XGBoostClassifier": "a class index (an integer >= 0)",
    }
    df = rows_frame(spark, case, rows, labels)
    if case.name not in expected:  # regressors take any finite label: NaN is the bad one
        labels[3] = float("nan")
        df = rows_frame(spark, case, rows, labels)
        message = "(first: null or NaN), expected a finite number"
    else:
        message = f"(first: -1.0), expected {expected[case.name]}"
    params = {"numClasses": 3} if case.name == "LinearLearnerClassifier-multiclass" else {}
    assert fit_error(case, df, **params) == (
        f"column 'label', partition 0: 1 row(s) have an invalid label {message}." + SKIP_HINT
    )


@every_stage
def test_bad_weights(case, spark):
    if not case.make().hasParam("weightCol"):
        pytest.skip("the stage takes no weights")
    df = rows_frame(spark, case, clean_rows(case)).withColumn("w", F.lit(1.0))
    df = df.withColumn("w", F.when(F.monotonically_increasing_id() == 2, -1.0).otherwise(F.col("w")))
    assert fit_error(case, df, weightCol="w") == (
        "column 'w', partition 0: 1 row(s) have a null, negative, NaN or infinite weight." + SKIP_HINT
    )


_BAD_FIT = """
import sys
import numpy as np
from sagespark.clustering import KMeans
from sagespark.spark.session import local_session

spark = local_session("local[2]", driver_memory="1g", shuffle_partitions=2)
rows = [([float(v) for v in r],) for r in np.random.default_rng(0).normal(size=(200, 3))]
rows[150] = ([1.0, float("nan"), 0.0],)
df = spark.createDataFrame(rows, "arr array<double>").repartition(2)
for attempt in (lambda: KMeans(k=2, featuresCol="arr").fit(df),
                lambda: KMeans(k=2, featuresCol="arr").fit(df.limit(100)).computeCost(df)):
    try:
        attempt()
    except ValueError as error:
        print(error)
spark.stop()
"""


def test_invalid_input_fails_no_task_and_prints_no_stack_trace():
    """Bad rows found by a worker come back as data: the fit (and computeCost's pass)
    raises one ValueError, and the executor logs no failed task (no Java stack trace on
    stderr, nothing for Spark to retry)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _BAD_FIT], capture_output=True, text=True, timeout=300)
    message = "partition 1: 1 row(s) contain NaN or infinity." + SKIP_HINT
    assert result.stdout.splitlines()[-2:] == [f"column 'arr', {message}"] * 2, result.stdout + result.stderr
    assert "Exception in task" not in result.stderr and "Traceback" not in result.stderr, result.stderr
