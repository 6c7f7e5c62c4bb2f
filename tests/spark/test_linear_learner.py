"""LinearLearnerClassifier / LinearLearnerRegressor on Spark: quality against
references, one pass for finalize-time grids, validation sources, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from pyspark.sql import functions as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from sagespark.classification import LinearLearnerClassifier, LinearLearnerClassificationModel
from sagespark.regression import LinearLearnerRegressor


def logistic_rows(n=6000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.linspace(0.5, 3.0, d) + 2.0
    beta = np.linspace(-1.0, 1.0, d)
    margin = (x - 2.0) @ beta + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-margin))).astype(float)
    return x, y, margin


def frame(spark, x, y, partitions=4, **extra):
    rows = [(i, Vectors.dense(r), float(t), *[float(v[i]) if not isinstance(v[i], (bool, np.bool_)) else bool(v[i])
             for v in extra.values()]) for i, (r, t) in enumerate(zip(x, y))]  # fmt: skip
    return spark.createDataFrame(rows, ["id", "features", "label", *extra]).repartitionByRange(partitions, "id").cache()


@pytest.fixture(scope="module")
def binary(spark):
    x, y, margin = logistic_rows()
    return frame(spark, x, y), x, y, margin


def test_classifier_matches_scikit_learn_and_the_oracle_auc(binary):
    df, x, y, margin = binary
    model = LinearLearnerClassifier(miniBatchSize=200, seed=1).fit(df)
    assert model.packedModels()[model.selectedModel]["accuracy"] == max(r["accuracy"] for r in model.packedModels())
    model = model.finalize(criterion="loss_function")  # accuracy is blind to the coefficients' scale
    reference = LogisticRegression(C=1e4, max_iter=5000).fit(x, y)
    np.testing.assert_allclose(model.coefficients.toArray(), reference.coef_[0], atol=0.05)
    scored = model.transform(df).select("id", "probability", "prediction").toPandas().sort_values("id")
    p = np.array([v[1] for v in scored["probability"]])
    assert roc_auc_score(y, p) >= roc_auc_score(y, margin) - 0.003  # the generating model's AUC
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), (p >= model.threshold).astype(float))
    assert model.summary.numRows == len(y) and 1 <= model.summary.numEpochs <= 15
    assert len(model.packedModels()) == 32
    assert model.packedModels()[model.selectedModel]["loss"] == min(row["loss"] for row in model.packedModels())


def test_criteria_grid_and_refinalize_need_no_extra_pass(binary, count_passes):
    df = binary[0]
    estimator = LinearLearnerClassifier(miniBatchSize=200, numModels=4, epochs=2, validationFraction=0.3, seed=2)
    grid = [{estimator.binaryClassifierModelSelectionCriteria: c} for c in ("accuracy", "f_beta", "loss_function")]
    models = dict(estimator.fitMultiple(df, grid))
    assert len(count_passes) <= 2  # the epochs of one training run
    passes = len(count_passes)
    calibrated = models[0].finalize(criterion="precision_at_target_recall", targetRecall=0.9)
    assert len(count_passes) == passes
    metrics = calibrated._state.metrics("precision_at_target_recall", target_recall=0.9)
    assert calibrated.threshold == metrics.threshold[calibrated.selectedModel]
    assert calibrated.threshold <= models[0].finalize(criterion="precision_at_target_recall", targetRecall=0.5).threshold


def test_validation_rows_are_never_trained_on(spark):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1200, 3))
    y = x @ np.array([1.0, 2.0, -1.0]) + 0.5 + rng.normal(scale=0.1, size=1200)
    held = rng.random(1200) < 0.25
    y[held] += 100.0  # validation rows that would wreck the fit if trained on
    df = frame(spark, x, y, held=held)
    exact = np.linalg.lstsq(np.column_stack([x[~held], np.ones((~held).sum())]), y[~held], rcond=None)[0]
    by_column = LinearLearnerRegressor(solver="exact", validationIndicatorCol="held").fit(df)
    np.testing.assert_allclose(np.append(by_column.coefficients.toArray(), by_column.intercept), exact, rtol=1e-9)
    train, validation = df.where(~F.col("held")), df.where(F.col("held"))
    by_frame = LinearLearnerRegressor(solver="exact").setValidationData(validation).fit(train)
    np.testing.assert_allclose(by_frame.coefficients.toArray(), by_column.coefficients.toArray(), rtol=1e-9)
    assert by_frame.validationMSE[0] == pytest.approx(by_column.validationMSE[0], rel=1e-9)
    assert by_frame.validationMSE[0] == pytest.approx(100.0**2, rel=0.01)


def test_exact_solver_equals_mllib_normal_equations_at_regparam_times_label_std(spark):
    """MLlib's normal solver divides regParam by the label's (population) standard
    deviation (glmnet's convention): sagespark's exact ridge at r equals MLlib's
    LinearRegression(standardization=False, elasticNetParam=0) at r x std(y)."""
    from pyspark.ml.regression import LinearRegression

    rng = np.random.default_rng(8)
    x = rng.normal(size=(600, 4))
    y = x @ rng.normal(size=4) * 3 + 5 + rng.normal(scale=2.0, size=600)
    df = frame(spark, x, y)
    ours = LinearLearnerRegressor(solver="exact", regParam=0.5).fit(df)
    theirs = LinearRegression(solver="normal", standardization=False, elasticNetParam=0.0, regParam=0.5 * y.std()).fit(df)
    np.testing.assert_allclose(ours.coefficients.toArray(), theirs.coefficients.toArray(), rtol=1e-8)
    assert ours.intercept == pytest.approx(theirs.intercept, rel=1e-8)


def test_exact_solver_serves_a_regparam_grid_in_one_pass(spark, count_passes):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(800, 5))
    y = x @ rng.normal(size=5) + rng.normal(size=800)
    df = frame(spark, x, y)
    estimator = LinearLearnerRegressor(solver="exact")
    grid = [{estimator.regParam: r} for r in (0.0, 0.1, 1.0)]
    models = dict(estimator.fitMultiple(df, grid))
    assert len(count_passes) == 1
    xc, yc = x - x.mean(axis=0), y - y.mean()
    for index, r in enumerate((0.0, 0.1, 1.0)):
        beta = np.linalg.solve(xc.T @ xc + r * len(y) * np.eye(5), xc.T @ yc)
        np.testing.assert_allclose(models[index].coefficients.toArray(), beta, rtol=1e-9)
    refit = models[0].finalize(regParamGrid=[0.0, 0.1, 1.0])
    assert refit.regParamChosen == 0.0 and np.isnan(refit.validationMSE).all()  # no validation rows: the first


def sparse_frame(spark, n=4000, d=100_000, nnz=10, seed=5):
    """Hashed-like rows: 3 of 200 informative columns and nnz - 3 random ones, labels
    from a logistic model on them; with the generating margins."""
    rng = np.random.default_rng(seed)
    n, d, nnz = 4000, 100_000, 10
    informative = rng.choice(d, 200, replace=False)
    beta = np.zeros(d)
    beta[informative] = rng.normal(scale=2.0, size=200)
    rows, margins = [], []
    for i in range(n):
        columns = np.sort(np.concatenate([rng.choice(informative, 3, replace=False), rng.choice(d, nnz - 3, replace=False)]))
        columns = np.unique(columns)
        values = np.ones(len(columns))
        margins.append(beta[columns].sum())
        rows.append((i, Vectors.sparse(d, columns.tolist(), values.tolist())))
    margins = np.array(margins)
    y = (rng.random(n) < 1 / (1 + np.exp(-margins))).astype(float)
    df = spark.createDataFrame([(i, v, float(t)) for (i, v), t in zip(rows, y)], ["id", "features", "label"])
    return df.repartition(2).cache(), y, margins


def test_sparse_high_dimensional_input_trains_without_densifying(spark):
    df, y, margins = sparse_frame(spark)
    model = LinearLearnerClassifier(numModels=4, miniBatchSize=100, epochs=5, seed=6).fit(df)
    assert model._state.norm.centred is False
    p = np.array([r["probability"][1] for r in model.transform(df).orderBy("id").collect()])
    assert roc_auc_score(y, p) > 0.85  # oracle here: roc_auc_score(y, margins)
    assert roc_auc_score(y, margins) > 0.9


def test_a_broadcast_start_state_gives_the_fit_that_bytes_in_each_task_give(spark, monkeypatch):
    """Wide states travel to the tasks as a broadcast (sagespark.spark.fold.shipped);
    the fit is the one the start's bytes pickled into every task give. (That partition
    results of touched rows merge like whole states: tests/states/test_touched_rows.py.)"""
    from contextlib import contextmanager

    from sagespark.spark import fold, onepass

    shipped_kinds = []

    @contextmanager
    def recording(dataset, data):
        with fold.shipped(dataset, data) as value:
            shipped_kinds.append(isinstance(value, bytes))
            yield value

    monkeypatch.setattr(onepass, "shipped", recording)
    df = sparse_frame(spark, n=1500, d=50_000)[0]
    estimator = LinearLearnerClassifier(numModels=2, miniBatchSize=100, epochs=2, earlyStoppingPatience=5, seed=3)
    monkeypatch.setattr(fold, "BROADCAST_BYTES", 0)
    broadcast = estimator.fit(df)
    assert shipped_kinds and not any(shipped_kinds)  # every pass's start went as a broadcast
    shipped_kinds.clear()
    monkeypatch.setattr(fold, "BROADCAST_BYTES", 1 << 40)
    in_tasks = estimator.fit(df)
    assert shipped_kinds and all(shipped_kinds)
    assert broadcast.summary.numEpochs == in_tasks.summary.numEpochs >= 1
    np.testing.assert_array_equal(broadcast.coefficients.toArray(), in_tasks.coefficients.toArray())
    assert broadcast.intercept == in_tasks.intercept


def test_incremental_fit_continues_from_the_initial_model(binary):
    df = binary[0]
    day1, day2 = df.where(F.col("id") % 2 == 0), df.where(F.col("id") % 2 == 1)
    estimator = LinearLearnerClassifier(miniBatchSize=200, numModels=2, epochs=1, seed=7)
    first = estimator.fit(day1)
    continued = estimator.copy().setInitialModel(first).fit(day2)
    fresh = estimator.fit(day2)
    assert continued.summary.numRows == df.count()
    assert continued.summary.objectiveHistory[0] < fresh.summary.objectiveHistory[0]


def test_bad_labels_and_dimensions_are_named(spark, binary):
    df = binary[0]
    bad = df.withColumn("label", F.when(F.col("id") == 5, 2.0).otherwise(F.col("label"))).coalesce(1)
    with pytest.raises(ValueError, match=r"column 'label', partition 0: 1 row\(s\) have an invalid label \(first: 2.0\), "
                                         r"expected 0 or 1"):  # fmt: skip
        LinearLearnerClassifier(numClasses=2).fit(bad)
    with pytest.raises(ValueError, match=r"expected an integer in 0\.\.2 \(numClasses=3\)"):
        LinearLearnerClassifier(numClasses=3).fit(df.withColumn("label", F.lit(3.5)).coalesce(1))
    nan_label = df.withColumn("label", F.when(F.col("id") == 5, F.lit(float("nan"))).otherwise(F.col("label")))
    with pytest.raises(ValueError, match=r"invalid label \(first: null or NaN\), expected a finite number"):
        LinearLearnerRegressor(solver="exact").fit(nan_label.coalesce(1))
    skipped = LinearLearnerRegressor(solver="exact", handleInvalid="skip").fit(nan_label)
    assert skipped.summary.numRowsSkipped == 1
    model = LinearLearnerClassifier(numModels=1, epochs=1).fit(df)
    wider = spark.createDataFrame([(0, Vectors.dense([1.0] * 7), 1.0)], ["id", "features", "label"])
    with pytest.raises(ValueError, match="row\\(s\\) have dimension 7, expected 6"):
        LinearLearnerClassifier(numModels=1, epochs=1).setInitialModel(model).fit(wider)
    with pytest.raises(ValueError, match="label column 'label' must be numeric, found string"):
        LinearLearnerRegressor().fit(df.withColumn("label", F.lit("a")))


def test_saved_model_keeps_its_state(binary, tmp_path):
    df = binary[0]
    model = LinearLearnerClassifier(numModels=3, epochs=2, miniBatchSize=300).fit(df)
    model.write().overwrite().save(str(tmp_path / "m"))
    loaded = LinearLearnerClassificationModel.load(str(tmp_path / "m"))
    assert loaded.summary == model.summary
    again = loaded.finalize(criterion="f_beta")
    assert again.threshold == model.finalize(criterion="f_beta").threshold
