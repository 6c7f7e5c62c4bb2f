"""The conformance suite's registry: every Estimator/Model pair is listed once here and
then passes every check in test_conformance.py (in the spirit of scikit-learn's
check_estimator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from pyspark.ml.evaluation import (
    BinaryClassificationEvaluator,
    ClusteringEvaluator,
    Evaluator,
    MulticlassClassificationEvaluator,
    RegressionEvaluator,
)
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param.shared import HasInputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import functions as F

from sagespark.classification import FMClassifier, KNNClassifier, LinearLearnerClassifier, XGBoostClassifier
from sagespark.clustering import LDA, KMeans
from sagespark.feature import PCA, RobustScaler, StandardScaler
from sagespark.regression import FMRegressor, KNNRegressor, LinearLearnerRegressor, XGBoostRegressor
from tests.data import blobs, lda_corpus


class MeanSquaredNormEvaluator(Evaluator, HasInputCol, DefaultParamsReadable, DefaultParamsWritable):
    """Mean squared L2 norm of a vector column: a metric for stages that output vectors
    (scalers), so CrossValidator can run them."""

    def __init__(self, inputCol: str = "scaled") -> None:
        super().__init__()
        self._set(inputCol=inputCol)

    def _evaluate(self, dataset) -> float:
        squares = F.aggregate(vector_to_array(F.col(self.getInputCol())), F.lit(0.0), lambda a, v: a + v * v)
        return float(dataset.select(F.avg(squares)).first()[0])

    def isLargerBetter(self) -> bool:
        return False


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[..., Any]  # keyword params -> Estimator
    data: Callable[[], np.ndarray]  # features (rows x d) with structure to learn
    model_arrays: Callable[[Any], np.ndarray]  # what two models must agree on
    grid_param: str  # an Int param for CrossValidator grids
    grid_values: tuple
    evaluator: Callable[[], Evaluator]
    tolerance: float = 1e-6  # on model_arrays across input layouts
    input_param: str = "featuresCol"  # the vector-column param (MLlib's name for the stage)
    labels: Callable[[np.ndarray], np.ndarray] | None = None  # supervised stages: the "label" column
    # Another partitioning of the same rows: exact stages agree on model_arrays within
    # `tolerance`; stages whose state depends on the stream order (SGD, one-pass k-means,
    # samples, random sketches) on the evaluator's metric within this relative tolerance.
    partitioning_metric_rtol: float | None = None
    seed_matters: bool = False  # another seed gives another model on this data
    # where the seed shows when the model does not (default: model_arrays)
    seed_arrays: Callable[[Any], np.ndarray] | None = None
    # fit needs a classic session (the XGBoost stages: xgboost.spark trains in a barrier
    # RDD stage, which Spark Connect lacks); their checks skip the Connect run, and
    # tests/spark/test_xgboost.py checks fit's error and transform/save/load on Connect
    classic_fit_only: bool = False


CASES = [
    Case(
        name="KMeans",
        make=lambda **kw: KMeans(k=3, seed=11, miniBatchSize=100, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=5),
        model_arrays=lambda m: np.array(sorted(map(tuple, m.clusterCenters()))),
        grid_param="k",
        grid_values=(2, 3),
        evaluator=lambda: ClusteringEvaluator(),
        seed_matters=True,  # the state's centers (random openings); the 3 final centers are the same
        seed_arrays=lambda m: m.state.centers,
    ),
    Case(
        name="StandardScaler",
        make=lambda **kw: StandardScaler(outputCol="scaled", **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=6),
        model_arrays=lambda m: np.concatenate([m.mean.toArray(), m.std.toArray()]),
        grid_param="withMean",
        grid_values=(False, True),
        evaluator=lambda: MeanSquaredNormEvaluator(),
        tolerance=1e-9,
        input_param="inputCol",
    ),
    Case(
        name="RobustScaler",
        make=lambda **kw: RobustScaler(outputCol="scaled", withCentering=True, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=7),
        model_arrays=lambda m: np.concatenate([m.median.toArray(), m.range.toArray()]),
        grid_param="upper",
        grid_values=(0.75, 0.9),
        evaluator=lambda: MeanSquaredNormEvaluator(),
        tolerance=0.0,  # below k rows the sketches are exact
        input_param="inputCol",
    ),
] + [
    Case(
        name=f"PCA-{mode}",
        make=lambda mode=mode, **kw: PCA(k=2, outputCol="scaled", algorithmMode=mode, seed=4, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=8),
        model_arrays=lambda m: np.concatenate([m.pc.toArray().ravel(), m.explainedVariance.toArray()]),
        grid_param="k",
        grid_values=(1, 2),
        evaluator=lambda: MeanSquaredNormEvaluator(),
        tolerance=1e-9,
        input_param="inputCol",
        partitioning_metric_rtol={"randomized": 0.01}.get(mode),
        seed_matters=mode == "randomized",  # regular is exact, Frequent Directions deterministic
    )
    for mode in ("regular", "randomized", "fd")
]


def _binary_labels(x: np.ndarray) -> np.ndarray:
    score = x[:, 0] - 0.5 * x[:, 1]
    return (score > np.median(score)).astype(float)


def _three_classes(x: np.ndarray) -> np.ndarray:
    return np.digitize(x[:, 0], np.quantile(x[:, 0], [1 / 3, 2 / 3])).astype(float)


def _linear_target(x: np.ndarray) -> np.ndarray:
    return x @ np.array([1.0, -1.0, 0.5, 2.0]) + 3.0 + np.sin(np.arange(len(x)))


def _classifier_arrays(model) -> np.ndarray:
    return np.concatenate([model.coefficientMatrix.toArray().ravel(), model.interceptVector.toArray(),
                           [model.threshold if model.numClasses == 2 else 0.0]])  # fmt: skip


# a given learningRate packs rates of 0.1x-10x of it (the auto range, 0.1x-100x, picks
# noisier models on 400 rows, and the partitioning check measures the state, not the range)
_LINEAR = dict(numModels=4, miniBatchSize=40, epochs=2, learningRate=0.01, seed=3)
CASES += [
    Case(
        name="LinearLearnerClassifier-binary",
        seed_matters=True,
        make=lambda **kw: LinearLearnerClassifier(**_LINEAR, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=9),
        labels=_binary_labels,
        model_arrays=_classifier_arrays,
        grid_param="binaryClassifierModelSelectionCriteria",
        grid_values=("accuracy", "loss_function"),
        evaluator=lambda: BinaryClassificationEvaluator(),
        partitioning_metric_rtol=0.01,
    ),
    Case(
        name="LinearLearnerClassifier-multiclass",
        seed_matters=True,
        make=lambda **kw: LinearLearnerClassifier(**_LINEAR, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=10),
        labels=_three_classes,
        model_arrays=_classifier_arrays,
        grid_param="multiclassModelSelectionCriteria",
        grid_values=("loss_function", "accuracy"),
        evaluator=lambda: MulticlassClassificationEvaluator(),
        partitioning_metric_rtol=0.01,
    ),
    Case(
        name="LinearLearnerRegressor-sgd",
        seed_matters=True,
        make=lambda **kw: LinearLearnerRegressor(**_LINEAR, solver="sgd", **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=11),
        labels=_linear_target,
        model_arrays=lambda m: np.append(m.coefficients.toArray(), m.intercept),
        grid_param="epochs",
        grid_values=(1, 2),
        evaluator=lambda: RegressionEvaluator(),
        partitioning_metric_rtol=0.4,  # 2 epochs of 400 rows: far from converged (RMSE 5-7)
    ),
    Case(
        name="LinearLearnerRegressor-exact",
        make=lambda **kw: LinearLearnerRegressor(solver="exact", **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=12),
        labels=_linear_target,
        model_arrays=lambda m: np.append(m.coefficients.toArray(), m.intercept),
        grid_param="regParam",
        grid_values=(0.0, 0.5),
        evaluator=lambda: RegressionEvaluator(),
        tolerance=1e-9,
    ),
]


def _fm_arrays(model) -> np.ndarray:
    return np.concatenate([[model.intercept], model.linear.toArray(), model.factors.toArray().ravel()])


_FM = dict(factorSize=3, miniBatchSize=40, stepSize=0.02, seed=3)
CASES += [
    Case(
        name="FMClassifier",
        seed_matters=True,
        make=lambda **kw: FMClassifier(**_FM, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=13),
        labels=_binary_labels,
        model_arrays=_fm_arrays,
        grid_param="maxIter",
        grid_values=(1, 2),
        evaluator=lambda: BinaryClassificationEvaluator(),
        partitioning_metric_rtol=0.01,
    ),
    Case(
        name="FMRegressor",
        seed_matters=True,
        make=lambda **kw: FMRegressor(**_FM, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=14),
        labels=_linear_target,
        model_arrays=_fm_arrays,
        grid_param="factorSize",
        grid_values=(2, 3),
        evaluator=lambda: RegressionEvaluator(),
        partitioning_metric_rtol=0.25,  # 1 pass of 400 rows: far from converged (RMSE 7-8)
    ),
]


def _knn_arrays(model) -> np.ndarray:
    """The sample (rows with their labels), in sample order."""
    return np.column_stack([model.sampleFeatures, model.sampleLabels])


CASES += [
    Case(
        name="KNNClassifier",
        seed_matters=True,
        make=lambda **kw: KNNClassifier(k=5, sampleSize=150, seed=3, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=15),
        labels=_three_classes,
        model_arrays=_knn_arrays,
        grid_param="k",
        grid_values=(3, 7),
        evaluator=lambda: MulticlassClassificationEvaluator(),
        partitioning_metric_rtol=0.05,
        tolerance=0.0,
    ),
    Case(
        name="KNNRegressor-ivf",
        seed_matters=True,
        make=lambda **kw: KNNRegressor(k=5, sampleSize=150, indexType="ivf", seed=3, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=16),
        labels=_linear_target,
        model_arrays=_knn_arrays,
        grid_param="k",
        grid_values=(3, 7),
        evaluator=lambda: RegressionEvaluator(),
        partitioning_metric_rtol=0.05,
        tolerance=0.0,
    ),
]


CASES += [
    Case(
        name="LDA",
        seed_matters=True,  # the random signs of the sketch and the power method's starts
        make=lambda **kw: LDA(k=2, seed=3, **kw),
        data=lambda: lda_corpus(400, 4, 2, lengths=(3, 30), topic_concentration=0.3, seed=17)[0],
        model_arrays=lambda m: np.concatenate([m.topicsMatrix().toArray().ravel(), m.estimatedDocConcentration()]),
        grid_param="k",
        grid_values=(1, 2),
        evaluator=lambda: MeanSquaredNormEvaluator(inputCol="topicDistribution"),
    ),
]


_PROBE = np.random.default_rng(0).normal(scale=3.0, size=(64, 4))


def _booster_margins(model) -> np.ndarray:
    """The model's raw scores on fixed points (its trees decide them)."""
    return np.asarray(model.get_booster().inplace_predict(_PROBE, predict_type="margin"), dtype=np.float64).ravel()


# few small trees: the checks fit each case dozens of times
_XGB = dict(numRound=8, maxDepth=3)
CASES += [
    Case(
        name="XGBoostClassifier",
        make=lambda **kw: XGBoostClassifier(**_XGB, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=18),
        labels=_binary_labels,
        model_arrays=_booster_margins,
        grid_param="numRound",
        grid_values=(4, 8),
        evaluator=lambda: BinaryClassificationEvaluator(),
        # another partitioning deals other rows to xgboost's workers: other histogram cuts
        partitioning_metric_rtol=0.02,
        classic_fit_only=True,
    ),
    Case(
        name="XGBoostRegressor",
        make=lambda **kw: XGBoostRegressor(**_XGB, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=19),
        labels=_linear_target,
        model_arrays=_booster_margins,
        grid_param="maxDepth",
        grid_values=(2, 3),
        evaluator=lambda: RegressionEvaluator(),
        partitioning_metric_rtol=0.1,
        classic_fit_only=True,
    ),
]


def _one_per_stage(cases: list[Case]) -> list[Case]:
    seen, kept = set(), []
    for case in cases:
        stage = type(case.make())
        if stage not in seen:
            seen.add(stage)
            kept.append(case)
    return kept


# The first case of each Estimator class. Checks of the Spark ML wiring (Params, save/load,
# Pipeline, CrossValidator) and of the shared input and fold layers (the bad-input table,
# handleInvalid, input layouts, empty partitions) run once per stage; a stage's modes
# (PCA's algorithmMode, the linear learner's solver and class count) change the state,
# which the other checks cover for every case.
STAGES = _one_per_stage(CASES)

every_case = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
every_stage = pytest.mark.parametrize("case", STAGES, ids=[c.name for c in STAGES])
