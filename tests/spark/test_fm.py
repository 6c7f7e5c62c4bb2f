"""FMClassifier / FMRegressor on Spark: recovery of a known factorization machine,
MLlib's outputs and param names, passes and incremental training, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors
from sklearn.metrics import roc_auc_score

from sagespark.classification import FMClassificationModel, FMClassifier
from sagespark.regression import FMRegressor

FIELDS, VALUES, TRUE_FACTORS = 8, 10, 2
DIM = FIELDS * VALUES


def known_fm(seed=7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=DIM) * 0.3, rng.normal(size=(DIM, TRUE_FACTORS)) * 0.5


def fm_rows(n, seed, model=known_fm()):
    """One-hot rows of FIELDS categorical fields; (x, margin y(x) of the known FM)."""
    w, v = model
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, VALUES, (n, FIELDS)) + np.arange(FIELDS) * VALUES
    x = np.zeros((n, DIM))
    np.put_along_axis(x, columns, 1.0, axis=1)
    margin = -0.2 + x @ w + 0.5 * (((x @ v) ** 2).sum(axis=1) - (x @ (v * v)).sum(axis=1))
    return x, margin, rng


def sparse_frame(spark, x, y, partitions=4):
    rows = [(i, Vectors.sparse(DIM, np.flatnonzero(r).tolist(), r[r != 0].tolist()), float(t))
            for i, (r, t) in enumerate(zip(x, y))]  # fmt: skip
    return spark.createDataFrame(rows, ["id", "features", "label"]).repartitionByRange(partitions, "id").cache()


@pytest.fixture(scope="module")
def clicks(spark):
    x, margin, rng = fm_rows(20000, seed=1)
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-margin))).astype(float)
    test_x, test_margin, test_rng = fm_rows(10000, seed=2)
    test_y = (test_rng.random(len(test_x)) < 1 / (1 + np.exp(-test_margin))).astype(float)
    return sparse_frame(spark, x, y), sparse_frame(spark, test_x, test_y), test_y, test_margin


def probabilities(model, df):
    scored = model.transform(df).select("id", "rawPrediction", "probability", "prediction").toPandas()
    return scored.sort_values("id")


def test_one_pass_recovers_a_known_factorization_machine(clicks, count_passes):
    train, test, test_y, test_margin = clicks
    model = FMClassifier(stepSize=0.01, miniBatchSize=20, factorSize=4, maxIter=1, validationFraction=0.0, seed=3).fit(train)
    assert len(count_passes) == 1 and model.summary.numEpochs == 1
    scored = probabilities(model, test)
    p = np.array([v[1] for v in scored["probability"]])
    ceiling = roc_auc_score(test_y, test_margin)
    assert roc_auc_score(test_y, p) >= ceiling - 0.03  # measured 0.811 vs 0.825
    linear_only = FMClassifier(stepSize=0.01, miniBatchSize=20, factorSize=1, factorsLr=0.0, maxIter=1,
                               validationFraction=0.0, seed=3).fit(train)
    p_linear = np.array([v[1] for v in probabilities(linear_only, test)["probability"]])
    assert roc_auc_score(test_y, p) >= roc_auc_score(test_y, p_linear) + 0.05  # interactions learned (linear: 0.700)
    # MLlib's columns: rawPrediction [-y, y], probability [1 - p, p], prediction p >= 0.5
    raw = np.array([v.toArray() for v in scored["rawPrediction"]])
    np.testing.assert_allclose(raw[:, 0], -raw[:, 1])
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-raw[:, 1])), rtol=1e-12)
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), (p >= 0.5).astype(float))
    # the model's arrays reproduce its scores: y = w0 + x.w + pairwise term
    x = np.stack([row.toArray() for row in test.sort("id").select("features").toPandas()["features"][:50]])
    v, w = model.factors.toArray(), model.linear.toArray()
    assert model.factors.numRows == DIM and model.factors.numCols == 4
    expected = model.intercept + x @ w + 0.5 * (((x @ v) ** 2).sum(axis=1) - (x @ (v * v)).sum(axis=1))
    np.testing.assert_allclose(raw[:50, 1], expected, rtol=1e-10, atol=1e-12)


def test_regressor_recovers_a_known_factorization_machine(spark):
    x, margin, rng = fm_rows(20000, seed=4)
    y = margin + rng.normal(size=len(x)) * 0.1
    df = sparse_frame(spark, x, y)
    model = FMRegressor(stepSize=0.01, miniBatchSize=20, factorSize=4, maxIter=3, seed=5).fit(df)
    test_x, test_margin, _ = fm_rows(5000, seed=6)
    scored = model.transform(sparse_frame(spark, test_x, test_margin)).select("id", "prediction").toPandas()
    error = scored.sort_values("id")["prediction"].to_numpy() - test_margin
    assert np.sqrt(np.mean(error**2)) < 0.1 * np.std(test_margin)  # measured 0.044
    assert model.summary.numEpochs == 3
    history = model.summary.objectiveHistory
    assert history[2] < history[0]  # the progressive loss falls pass over pass


def test_mllib_params_apply_to_every_term_unless_a_term_is_set():
    estimator = FMClassifier(stepSize=0.2, regParam=0.01, initStd=0.3, linearLr=0.5)
    config = estimator._config()
    assert (config.bias_lr, config.linear_lr, config.factors_lr) == (0.2, 0.5, 0.2)
    assert (config.bias_wd, config.linear_wd, config.factors_wd) == (0.01, 0.01, 0.01)
    assert estimator._term_value("factors", "InitSigma") == 0.3
    defaults = FMClassifier()._config()
    assert (defaults.bias_lr, defaults.linear_lr, defaults.factors_lr) == (0.01, 0.003, 0.003)
    assert (defaults.factors, defaults.optimizer, defaults.mini_batch_size) == (8, "adam", 100)
    off = FMClassifier(fitIntercept=False, fitLinear=False)._config()
    assert off.bias_lr == 0.0 and off.linear_lr == 0.0


def test_terms_that_are_not_fit_stay_zero(clicks):
    model = FMClassifier(fitIntercept=False, fitLinear=False, factorSize=2, seed=1).fit(clicks[0])
    assert model.intercept == 0.0
    assert not np.any(model.linear.toArray())
    assert np.any(model.factors.toArray())


def test_incremental_fit_continues_the_passes(clicks):
    train = clicks[0]
    estimator = FMClassifier(factorSize=3, stepSize=0.01, seed=8, numLearners=2, maxIter=1, validationFraction=0.0)
    two_passes = estimator.copy({estimator.maxIter: 2}).fit(train)
    first = estimator.fit(train)
    continued = estimator.copy().setInitialModel(first).fit(train)
    np.testing.assert_allclose(continued.factors.toArray(), two_passes.factors.toArray(), rtol=1e-12)
    assert continued.intercept == pytest.approx(two_passes.intercept, rel=1e-12)
    assert continued.summary.numRows == 2 * train.count()


def test_save_load_round_trip(clicks, tmp_path):
    model = FMClassifier(factorSize=2, seed=1).fit(clicks[0])
    model.write().overwrite().save(str(tmp_path / "fm"))
    loaded = FMClassificationModel.load(str(tmp_path / "fm"))
    np.testing.assert_array_equal(loaded.factors.toArray(), model.factors.toArray())
    assert loaded.summary == model.summary
    a, b = probabilities(model, clicks[1]), probabilities(loaded, clicks[1])
    np.testing.assert_array_equal(np.stack(a["probability"]), np.stack(b["probability"]))


def test_bad_input_is_a_clear_error(spark):
    x, _, _ = fm_rows(200, seed=9)
    labels = np.zeros(len(x))
    labels[5] = 2.0
    with pytest.raises(ValueError, match=r"column 'label', partition \d: 1 row\(s\) have an invalid label \(first: "
                                         r"2.0\), expected 0 or 1"):  # fmt: skip
        FMClassifier().fit(sparse_frame(spark, x, labels, partitions=1))
    x[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"column 'features', partition \d: 1 row\(s\) contain NaN or infinity"):
        FMClassifier().fit(sparse_frame(spark, x, np.zeros(len(x)), partitions=1))
    x[7, 3] = 0.0
    model = FMClassifier(factorSize=2).fit(sparse_frame(spark, x, np.zeros(len(x)), partitions=1))
    narrow = spark.createDataFrame([(0, Vectors.dense([1.0, 2.0]), 0.0)], ["id", "features", "label"])
    with pytest.raises(Exception, match="expected 80"):
        model.transform(narrow).collect()
    with pytest.raises(ValueError, match="solver must be one of"):
        FMClassifier(solver="adamW").fit(narrow)
    with pytest.raises(ValueError, match="maxIter must be > 0"):
        FMClassifier(maxIter=0).fit(narrow)


def test_early_stopping_returns_the_best_pass_on_held_out_rows(clicks):
    """The default fit stops on the loss of the held-out tenth of the rows and returns
    the model of the pass with the lowest one: the same model as a fit that makes
    exactly that many passes."""
    train, test, test_y, _ = clicks
    estimator = FMClassifier(factorSize=4, stepSize=0.05, miniBatchSize=20, seed=3, earlyStoppingPatience=2)
    model = estimator.fit(train)
    history = model.summary.objectiveHistory
    assert 1 < len(history) <= estimator.getOrDefault(estimator.maxIter)
    best = int(np.argmin(history)) + 1
    exactly = estimator.copy({estimator.maxIter: best}).fit(train)
    np.testing.assert_array_equal(model.factors.toArray(), exactly.factors.toArray())
    # the held-out loss is a real held-out estimate: within 0.02 of the test rows' log-loss
    p = np.clip(np.array([v[1] for v in probabilities(model, test)["probability"]]), 1e-12, 1 - 1e-12)
    test_loss = -np.mean(test_y * np.log(p) + (1 - test_y) * np.log(1 - p))
    assert abs(min(history) - test_loss) < 0.02, (min(history), test_loss)
