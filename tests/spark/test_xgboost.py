"""XGBoostClassifier / XGBoostRegressor against xgboost.spark called directly, the
numRound grid's one training, early stopping, the slot check and Spark Connect (the
rest of the Spark ML wiring: tests/spark/test_conformance.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DoubleType, LongType, StructField, StructType

from sagespark.classification import XGBoostClassificationModel, XGBoostClassifier
from sagespark.regression import XGBoostRegressor
from tests.data import blobs
from tests.spark.test_saved_models import SAVED, _assert_same, _frame, _outputs, unpack

xgboost_spark = pytest.importorskip("xgboost.spark")

ROWS = 600


def _frame_of(spark, labels: np.ndarray, x: np.ndarray, partitions: int = 3):
    rows = [(i, Vectors.dense(r), float(y), i % 4 == 0) for i, (r, y) in enumerate(zip(x, labels))]
    schema = StructType([StructField("id", LongType()), StructField("features", VectorUDT()),
                         StructField("label", DoubleType()), StructField("val", BooleanType())])  # fmt: skip
    return spark.createDataFrame(rows, schema).repartitionByRange(partitions, "id").cache()


@pytest.fixture(scope="module")
def data(spark):
    """{kind: DataFrame}: binary and 3-class labels and a regression target on the same rows."""
    x = blobs(ROWS, d=4, centers=3, seed=21)
    noise = np.random.default_rng(21).normal(size=ROWS)
    score = x[:, 0] - 0.5 * x[:, 1] + noise
    return {
        "binary": _frame_of(spark, (score > np.median(score)).astype(float), x),
        "three": _frame_of(spark, np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(float), x),
        "target": _frame_of(spark, x @ np.array([1.0, -2.0, 0.5, 0.0]) + noise, x),
    }


def _column(df, name: str) -> np.ndarray:
    rows = df.orderBy("id").select(vector_to_array(name) if name != "prediction" else name).collect()
    return np.array([r[0] for r in rows], dtype=float)


SETTINGS = dict(numRound=12, maxDepth=4, eta=0.2, subsample=0.8, colsampleBytree=0.75, regLambda=2.0, seed=5)
XGBOOST_SETTINGS = dict(n_estimators=12, max_depth=4, learning_rate=0.2, subsample=0.8, colsample_bytree=0.75,
                        reg_lambda=2.0, random_state=5)  # fmt: skip


@pytest.mark.parametrize("kind", ["binary", "three", "target"])
def test_predictions_equal_xgboost_spark_called_directly(data, kind):
    """The mapped params, the same rows and partitions (features as the array column
    sagespark hands to xgboost.spark), the same workers: the same model (1e-6: xgboost
    predicts in float32)."""
    df = data[kind]
    if kind == "target":
        ours, peer, outputs = XGBoostRegressor(**SETTINGS), xgboost_spark.SparkXGBRegressor, ["prediction"]
    else:
        ours, peer, outputs = XGBoostClassifier(**SETTINGS), xgboost_spark.SparkXGBClassifier, ["rawPrediction",
                                                                                                  "probability"]
    model = ours.fit(df)
    rows = df.select("id", vector_to_array("features").alias("features"), "label")
    direct = peer(num_workers=2, force_repartition=True, **XGBOOST_SETTINGS).fit(rows.drop("id"))
    assert model.summary.numRoundsTrained == direct.get_booster().num_boosted_rounds() == 12
    for name in outputs:
        np.testing.assert_allclose(_column(model.transform(df), name), _column(direct.transform(rows), name),
                                   atol=1e-6, err_msg=name)  # fmt: skip
    if kind != "target":
        assert model.numClasses == (2 if kind == "binary" else 3)
        np.testing.assert_array_equal(_column(model.transform(df), "probability").reshape(ROWS, -1).argmax(1),
                                      _column(model.transform(df), "prediction"))  # fmt: skip


def test_keep_hands_nan_to_xgboost_as_missing_values(spark, data):
    """handleInvalid='keep': NaN feature values are xgboost's missing values, the model
    xgboost.spark grows from the same rows (1e-6); 'error' (the default) names them;
    infinity stays an error under 'keep'."""
    rows = data["binary"].select("id", vector_to_array("features").alias("features"), "label")
    holes = rows.withColumn("features", F.transform("features", lambda v, i: F.when(
        (F.col("id") + i) % 7 == 0, F.lit(float("nan"))).otherwise(v)))  # fmt: skip
    model = XGBoostClassifier(handleInvalid="keep", **SETTINGS).fit(holes)
    direct = xgboost_spark.SparkXGBClassifier(num_workers=2, force_repartition=True, **XGBOOST_SETTINGS) \
        .fit(holes.drop("id"))  # fmt: skip
    np.testing.assert_allclose(_column(model.transform(holes), "probability"),
                               _column(direct.transform(holes), "probability"), atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match=re.escape("column 'features', partition 0: 113 row(s) contain NaN or inf")):
        XGBoostClassifier(numRound=2).fit(holes)
    infinite = holes.withColumn("features", F.transform("features", lambda v: F.when(F.isnan(v), float("inf"))
                                                       .otherwise(v)))  # fmt: skip
    with pytest.raises(ValueError, match=re.escape("row(s) contain infinity. Set handleInvalid='skip'")):
        XGBoostClassifier(numRound=2, handleInvalid="keep").fit(infinite)


def test_a_numround_grid_is_one_training_with_the_trees_of_separate_fits(data, count_passes):
    """fitMultiple over numRound trains once with the largest; each model holds exactly
    the trees a separate fit of its numRound grows."""
    df = data["three"]
    estimator = XGBoostClassifier(maxDepth=3, seed=2, subsample=0.7)
    grid = ParamGridBuilder().addGrid(estimator.numRound, [3, 7, 15]).build()
    shared = dict(estimator.fitMultiple(df, grid))
    assert len(count_passes) == 2  # the check and one training
    for index, param_map in enumerate(grid):
        separate = estimator.copy(param_map).fit(df)
        model = shared[index]
        assert model.summary.numRoundsTrained == 15 and model.summary.numRounds == separate.summary.numRounds
        assert model.get_booster().get_dump() == separate.get_booster().get_dump()
        np.testing.assert_array_equal(_column(model.transform(df), "probability"),
                                      _column(separate.transform(df), "probability"))  # fmt: skip
    assert len(count_passes) == 2 + 3 * 2
    finalized = shared[2].finalize(numRound=3)
    assert finalized.get_booster().get_dump() == shared[0].get_booster().get_dump()
    with pytest.raises(ValueError, match="numRound must be >= 1"):
        shared[2].finalize(numRound=0)
    with pytest.raises(ValueError, match=re.escape("this model holds 15 rounds; finalize(numRound=n) takes n <= 15")):
        shared[2].finalize(numRound=16)


def test_set_initial_model_adds_rounds_to_its_trees(data):
    """Incremental training (xgboost's xgb_model): 3 rounds, then 5 more on the same rows,
    are the trees of 8 rounds at once (no row or column sampling, so no random draws);
    the rows of both fits are counted; the continued model's numRound views count from
    the initial model's rounds."""
    df = data["three"]
    first = XGBoostClassifier(numRound=3, maxDepth=3).fit(df)
    continued = XGBoostClassifier(numRound=5, maxDepth=3).setInitialModel(first).fit(df)
    at_once = XGBoostClassifier(numRound=8, maxDepth=3).fit(df)
    assert continued.get_booster().get_dump() == at_once.get_booster().get_dump()
    assert continued.summary.numRoundsTrained == 8 and continued.summary.numRows == 2 * ROWS
    np.testing.assert_allclose(_column(continued.transform(df), "probability"),
                               _column(at_once.transform(df), "probability"), atol=1e-6)  # fmt: skip
    assert continued.finalize(numRound=2).get_booster().get_dump() == at_once.get_booster()[:5].get_dump()
    with pytest.raises(ValueError, match="the initial model has 3 classes, the data 2"):
        XGBoostClassifier(numRound=2).setInitialModel(first).fit(data["binary"])


def test_early_stopping_keeps_xgboosts_best_iteration(data):
    """With validation rows and earlyStoppingRounds the model predicts with the best
    round, as xgboost.spark's own early-stopped model does; a grid view at numRound n
    keeps the best of its first n rounds."""
    df = data["binary"]
    settings = dict(eta=0.9, maxDepth=5, validationIndicatorCol="val")
    model = XGBoostClassifier(numRound=200, earlyStoppingRounds=3, **settings).fit(df)
    rows = df.select("id", vector_to_array("features").alias("features"), "label", "val")
    direct = xgboost_spark.SparkXGBClassifier(
        num_workers=2, force_repartition=True, n_estimators=200, early_stopping_rounds=3, learning_rate=0.9,
        max_depth=5, random_state=0, validation_indicator_col="val",
    ).fit(rows.drop("id"))  # fmt: skip
    booster = direct.get_booster()
    assert model.summary.numRoundsTrained == booster.num_boosted_rounds() < 200
    assert model.summary.bestIteration == booster.best_iteration
    validation = model.summary.evaluationHistory["validation"]["logloss"]
    assert int(np.argmin(validation)) == booster.best_iteration
    np.testing.assert_allclose(_column(model.transform(df), "probability"),
                               _column(direct.transform(rows), "probability"), atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="earlyStoppingRounds needs validation rows"):
        XGBoostClassifier(earlyStoppingRounds=3).fit(df)


def test_cross_validator_over_numround_trains_once_per_fold_in_parallel_or_not(data, count_passes):
    """parallelism 1 and 2 on local[2] (each training takes both slots; the second waits
    its turn): the same metrics, one training per fold plus the final fit."""
    df = data["binary"]
    estimator = XGBoostClassifier(maxDepth=3)
    grid = ParamGridBuilder().addGrid(estimator.numRound, [2, 5, 10]).build()
    metrics = []
    for parallelism in (1, 2):
        count_passes.clear()
        cv = CrossValidator(estimator=estimator, estimatorParamMaps=grid, evaluator=BinaryClassificationEvaluator(),
                            numFolds=2, parallelism=parallelism, seed=1).fit(df)  # fmt: skip
        metrics.append(cv.avgMetrics)
        assert len(count_passes) == 2 * (2 + 1), parallelism
        assert cv.bestModel.summary.numRoundsTrained == grid[int(np.argmax(cv.avgMetrics))][estimator.numRound]
    assert metrics[0] == metrics[1]


def test_more_workers_than_task_slots_is_a_clear_error_before_any_job(data, count_passes):
    with pytest.raises(ValueError) as info:
        XGBoostClassifier(numWorkers=3).fit(data["binary"])
    assert str(info.value) == (
        "numWorkers=3 needs 3 task slots at once (a barrier stage), but the cluster has 2 (executor cores / "
        "spark.task.cpus); set numWorkers <= 2, or 0 for all of them"
    )
    assert len(count_passes) == 1  # the input check only


def test_labels_must_be_every_class_index(data):
    df = data["binary"].withColumn("label", F.col("label") * 2)
    with pytest.raises(ValueError, match=re.escape("labels must be 0..2 with every class present, but class 1 has no")):
        XGBoostClassifier(numRound=2).fit(df)
    with pytest.raises(ValueError, match=re.escape("column 'label', partition 0: 200 row(s) have an invalid label "
                                                   "(first: 0.5), expected a class index")):  # fmt: skip
        XGBoostClassifier(numRound=2).fit(data["binary"].withColumn("label", F.lit(0.5)))


@pytest.mark.matrix(modes=("connect",))
def test_on_connect_fit_says_why_and_a_saved_model_loads_and_scores(spark, tmp_path):
    """Fit needs a classic session; a model saved on one loads, transforms and saves on
    Connect (the saved folder of tests/spark/saved_models, its outputs written then)."""
    saved = json.loads((SAVED / "XGBoostClassifier.json").read_text())
    unpack(saved["files"], tmp_path / "model")
    model = XGBoostClassificationModel.load(str(tmp_path / "model"))
    df = _frame(spark, np.array(saved["features"]), np.array(saved["labels"]))
    _assert_same(_outputs(model, df), saved["outputs"])
    model.write().overwrite().save(str(tmp_path / "again"))
    _assert_same(_outputs(XGBoostClassificationModel.load(str(tmp_path / "again")), df), saved["outputs"])
    with pytest.raises(ValueError, match="XGBoostClassifier.fit needs a classic SparkSession"):
        XGBoostClassifier().fit(df)
