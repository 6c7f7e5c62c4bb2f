"""Defaults on real data: every stage at its defaults against MLlib's (or
scikit-learn's) at theirs, on the datasets that ship inside scikit-learn, held-out
quality with a stated tolerance (benchmarks/real_data.py does the same on larger real
datasets and times the fits).

- breast_cancer: 569 rows, 30 columns whose scales differ by 10^5 (binary);
- diabetes: 442 rows, 10 columns, a regression target (mean 152, sd 77);
- wine: 178 rows, 13 columns of very different scales (3 classes);
- digits: 1,797 rows of 64 pixel intensities 0-16 (10 classes).

Splits are stratified 75/25 (random_state 0), 2 partitions, cached."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import classification as mllib_classification
from pyspark.ml import clustering as mllib_clustering
from pyspark.ml import feature as mllib_feature
from pyspark.ml import regression as mllib_regression
from pyspark.ml.evaluation import BinaryClassificationEvaluator, MulticlassClassificationEvaluator, RegressionEvaluator
from pyspark.ml.linalg import Vectors
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from sagespark.classification import FMClassifier, KNNClassifier, LinearLearnerClassifier, XGBoostClassifier
from sagespark.clustering import LDA, KMeans
from sagespark.feature import PCA, StandardScaler
from sagespark.regression import FMRegressor, LinearLearnerRegressor, XGBoostRegressor
from tests.data import completion_perplexity

AUC, RMSE, ACCURACY = "auc", "rmse", "accuracy"  # evaluators are made with the session
EVALUATORS = {AUC: BinaryClassificationEvaluator, RMSE: RegressionEvaluator,
              ACCURACY: lambda: MulticlassClassificationEvaluator(metricName="accuracy")}  # fmt: skip


def _split(name: str):
    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    stratify = y if name != "diabetes" else None
    return train_test_split(x, y.astype(float), test_size=0.25, random_state=0, stratify=stratify)


@pytest.fixture(scope="module")
def real(spark):
    """{name: (train, test, numpy arrays)} for the four datasets."""
    frames = {}
    for name in ("breast_cancer", "diabetes", "wine", "digits"):
        x_train, x_test, y_train, y_test = _split(name)

        def frame(x, y):
            rows = [(Vectors.dense(r), float(v)) for r, v in zip(x, y)]
            return spark.createDataFrame(rows, ["features", "label"]).repartition(2).cache()

        frames[name] = (frame(x_train, y_train), frame(x_test, y_test), (x_train, x_test, y_train, y_test))
    return frames


def held_out(metric: str, estimator, data) -> float:
    train, test, _ = data
    return EVALUATORS[metric]().evaluate(estimator.fit(train).transform(test))


def test_linear_learner_classifier_matches_logistic_regression(real):
    """Binary: AUC within 0.003 of MLlib's (measured 0.9918 vs 0.9906); multiclass:
    accuracy within one of wine's 45 held-out rows (0.978 vs 1.0)."""
    ours = held_out(AUC, LinearLearnerClassifier(), real["breast_cancer"])
    assert ours >= held_out(AUC, mllib_classification.LogisticRegression(), real["breast_cancer"]) - 0.003
    ours = held_out(ACCURACY, LinearLearnerClassifier(), real["wine"])
    assert ours >= held_out(ACCURACY, mllib_classification.LogisticRegression(), real["wine"]) - 1 / 45 - 1e-9


def test_linear_learner_regressor_matches_linear_regression(real):
    """solver='auto' solves squared loss exactly, as MLlib's normal equations: RMSE
    within 1e-6 relative (the issue's bound is 1%)."""
    ours = held_out(RMSE, LinearLearnerRegressor(), real["diabetes"])
    peer = held_out(RMSE, mllib_regression.LinearRegression(), real["diabetes"])
    assert ours == pytest.approx(peer, rel=1e-6)


def test_factorization_machines_beat_mllib_at_its_best_step_size(real):
    """MLlib FM at stepSize 0.1, its best of {0.1, 0.01, 0.001} on both sets (its default
    1.0 diverges on click data): classifier AUC within 0.005 (measured 0.983 vs 0.977),
    regressor RMSE no worse (61 vs 139: unscaled labels keep MLlib's bias far off)."""
    ours = held_out(AUC, FMClassifier(), real["breast_cancer"])
    assert ours >= held_out(AUC, mllib_classification.FMClassifier(stepSize=0.1, seed=1), real["breast_cancer"]) - 0.005
    ours = held_out(RMSE, FMRegressor(), real["diabetes"])
    assert ours <= held_out(RMSE, mllib_regression.FMRegressor(stepSize=0.1, seed=1), real["diabetes"])


def test_xgboost_matches_mllib_tree_ensembles(real):
    """At both sides' defaults: AUC no worse than MLlib GBTClassifier's (measured 0.9839
    vs 0.9700), RMSE no worse than GBTRegressor's (68.71 vs 69.17); MLlib's GBT is
    binary only, so digits' 10 classes against RandomForestClassifier (seed 1; measured
    0.964 vs 0.931). On wine (133 training rows) xgboost's defaults miss 2 of 45 rows
    where MLlib's forest and logistic regression miss none (docs/xgboost.md)."""
    ours = held_out(AUC, XGBoostClassifier(), real["breast_cancer"])
    assert ours >= held_out(AUC, mllib_classification.GBTClassifier(), real["breast_cancer"])
    ours = held_out(RMSE, XGBoostRegressor(), real["diabetes"])
    assert ours <= held_out(RMSE, mllib_regression.GBTRegressor(), real["diabetes"])
    ours = held_out(ACCURACY, XGBoostClassifier(), real["digits"])
    assert ours >= held_out(ACCURACY, mllib_classification.RandomForestClassifier(seed=1), real["digits"])


def test_kmeans_cost_matches_mllib(real):
    """Held-out k-means cost on digits (k = 10) within 2% of MLlib's k-means|| + Lloyd."""
    train, test, (_, x_test, _, _) = real["digits"]
    ours, peer = KMeans(k=10).fit(train), mllib_clustering.KMeans(k=10, seed=1).fit(train)

    def cost(model):
        centers = np.array([np.asarray(c) for c in model.clusterCenters()])
        return ((x_test[:, None, :] - centers[None]) ** 2).sum(axis=2).min(axis=1).sum()

    assert cost(ours) <= 1.02 * cost(peer), (cost(ours), cost(peer))


def test_pca_and_standard_scaler_equal_mllib(real):
    train, _, _ = real["digits"]
    ours = PCA(k=10, inputCol="features", outputCol="pc").fit(train)
    peer = mllib_feature.PCA(k=10, inputCol="features", outputCol="pc").fit(train)
    np.testing.assert_allclose(ours.explainedVariance.toArray(), peer.explainedVariance.toArray(), rtol=1e-9)
    np.testing.assert_allclose(np.abs(ours.pc.toArray()), np.abs(peer.pc.toArray()), atol=1e-8)
    train, _, _ = real["wine"]
    ours = StandardScaler(inputCol="features", outputCol="s", withMean=True).fit(train)
    peer = mllib_feature.StandardScaler(inputCol="features", outputCol="s", withMean=True).fit(train)
    np.testing.assert_allclose(ours.std.toArray(), peer.std.toArray(), rtol=1e-12)
    np.testing.assert_allclose(ours.mean.toArray(), peer.mean.toArray(), rtol=1e-12)


def test_knn_classifier_matches_scikit_learn(real):
    """The default (flat, exact) index: digits accuracy within 0.005 of scikit-learn's
    brute-force 5-NN vote."""
    x_train, x_test, y_train, y_test = real["digits"][2]
    reference = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(x_train, y_train).score(x_test, y_test)
    assert held_out(ACCURACY, KNNClassifier(k=5), real["digits"]) >= reference - 0.005


def test_lda_held_out_perplexity_matches_mllib_online_lda(real):
    """digits as documents (each pixel a word, its intensity 0-16 its count): held-out
    document-completion perplexity (tests.data.completion_perplexity, the same evaluator
    for both models) of LDA(k=10) at its defaults within 0.01 of MLlib's online LDA at
    its defaults (maxIter 20); measured 3.5614 vs 3.5841 (MLlib at maxIter 100: 3.5601)."""
    train, _, (_, x_test, _, _) = real["digits"]
    ours = LDA(k=10).fit(train)
    peer = mllib_clustering.LDA(k=10, seed=1).fit(train)
    peer_topics = peer.topicsMatrix().toArray()
    found = completion_perplexity(ours.topicsMatrix().toArray(), ours.estimatedDocConcentration().toArray(), x_test)
    reference = completion_perplexity(peer_topics / peer_topics.sum(axis=0), peer.estimatedDocConcentration().toArray(),
                                      x_test)  # fmt: skip
    assert found <= reference + 0.01, (found, reference)
