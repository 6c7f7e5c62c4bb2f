"""Classifiers: LinearLearnerClassifier (SageMaker's linear learner, binary and
multiclass), FMClassifier (factorization machines, binary) and KNNClassifier
(k-nearest neighbours, see sagespark.neighbors), with MLlib's output columns.

Binary models output ``rawPrediction`` [-s, s] for the score s, ``probability``
[1 - p, p] with p = sigmoid(s) (logistic loss only: hinge gives no probability), and
``prediction`` = 1 when sigmoid(s) >= ``threshold``, the threshold calibrated at
finalize for the selection criterion. Multiclass models output the K scores, their
softmax and the argmax.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.param import TypeConverters
from pyspark.ml.param.shared import HasProbabilityCol, HasRawPredictionCol
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sagespark.factorization import _FMEstimator, _FMModel, _FMParams
from sagespark.kernels import Features
from sagespark.kernels.knn import vote
from sagespark.linear_learner import (
    _LinearLearnerEstimator,
    _LinearLearnerModel,
    _LinearLearnerParams,
    linear_scores,
    packed_model_rows,
)
from sagespark.neighbors import _KNNEstimator, _KNNModel, _KNNParams
from sagespark.spark.features import require_numeric
from sagespark.spark.params import param
from sagespark.spark.persistence import ParamsWritable
from sagespark.spark.scoring import add_scores
from sagespark.states.linear import BINARY_CRITERIA, MULTICLASS_CRITERIA, LinearSolution
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE


def _positive_weight(value: Any) -> str | float:
    if value == "balanced":
        return value
    return TypeConverters.toFloat(value)


class _ClassifierParams(_LinearLearnerParams, HasRawPredictionCol, HasProbabilityCol):
    binaryClassifierModelSelectionCriteria = param(
        "binaryClassifierModelSelectionCriteria",
        f"how the binary model and its threshold are chosen: one of {BINARY_CRITERIA}", TypeConverters.toString,
    )  # fmt: skip
    multiclassModelSelectionCriteria = param(
        "multiclassModelSelectionCriteria", f"how the multiclass model is chosen: one of {MULTICLASS_CRITERIA}",
        TypeConverters.toString,
    )  # fmt: skip
    fBeta = param("fBeta", "beta of the f_beta criterion (> 0)", TypeConverters.toFloat)
    targetRecall = param("targetRecall", "recall for precision_at_target_recall, in (0, 1)", TypeConverters.toFloat)
    targetPrecision = param("targetPrecision", "precision for recall_at_target_precision, in (0, 1)",
                             TypeConverters.toFloat)  # fmt: skip
    margin = param("margin", "margin of the hinge loss (> 0)", TypeConverters.toFloat)
    positiveExampleWeightMult = param("positiveExampleWeightMult", "training weight of positive rows: a number "
                                       "> 0 or 'balanced' (negatives / positives in the scaler sample)",
                                       _positive_weight)  # fmt: skip
    balanceMulticlassWeights = param("balanceMulticlassWeights", "weight classes by inverse frequency (in the "
                                      "scaler sample)", TypeConverters.toBoolean)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            binaryClassifierModelSelectionCriteria="accuracy",
            multiclassModelSelectionCriteria="loss_function", fBeta=1.0, targetRecall=0.8, targetPrecision=0.8,
            margin=1.0, positiveExampleWeightMult=1.0, balanceMulticlassWeights=False,
            rawPredictionCol="rawPrediction", probabilityCol="probability",
        )  # fmt: skip


_CLASSIFIER_FINALIZE = frozenset(
    {"binaryClassifierModelSelectionCriteria", "multiclassModelSelectionCriteria", "fBeta", "targetRecall",
     "targetPrecision", "predictionCol", "rawPredictionCol", "probabilityCol"}
)  # fmt: skip


class LinearLearnerClassifier(_LinearLearnerEstimator, _ClassifierParams, DefaultParamsReadable, ParamsWritable):
    """SageMaker's linear learner for classification: ``numModels`` logistic (or hinge,
    or softmax) models trained together by mini-batch SGD in as few passes as converge,
    the best selected and its decision threshold calibrated without another pass.

    >>> clf = LinearLearnerClassifier(labelCol="label")          # doctest: +SKIP
    >>> model = clf.fit(df)                                      # doctest: +SKIP
    >>> model.threshold, model.packedModels()[:3]                # doctest: +SKIP
    >>> model.finalize(criterion="precision_at_target_recall", targetRecall=0.9)  # doctest: +SKIP
    """

    FINALIZE_PARAMS = _CLASSIFIER_FINALIZE
    numClasses = param("numClasses", "number of classes (labels 0..numClasses-1); 0: max(label) + 1 from the data "
                        "(one small aggregation). The model's numClasses says what was used", TypeConverters.toInt)  # fmt: skip

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self._setDefault(numClasses=0)
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "LinearLearnerClassifier":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _predictor(self, num_classes: int) -> str:
        return "binary_classifier" if num_classes == 2 else "multiclass_classifier"

    def _num_classes(self, dataset: DataFrame) -> int:
        given = self.getOrDefault(self.numClasses)
        if given == 1 or given < 0:
            raise ValueError(f"numClasses must be 0 (infer) or >= 2, got {given}")
        if given:
            return given
        label = self.getLabelCol()
        require_numeric(dataset, label, "label column")
        top = dataset.select(F.max(F.col(label).cast("double"))).first()[0]
        if top is None or not np.isfinite(top):
            return 2
        return max(int(top) + 1, 2)

    def _loss_parameter(self, loss: str) -> float:
        return self.getOrDefault(self.margin) if loss == "hinge_loss" else 0.0

    def _positive_weight(self) -> float | str:
        return self.getOrDefault(self.positiveExampleWeightMult)

    def _balance_multiclass(self) -> bool:
        return self.getOrDefault(self.balanceMulticlassWeights)

    def _model_class(self):
        return LinearLearnerClassificationModel


class LinearLearnerClassificationModel(_LinearLearnerModel, _ClassifierParams):
    """The selected classifier. ``finalize(criterion=..., targetRecall=...)`` re-selects
    and re-calibrates from the kept metrics; ``packedModels()`` lists every packed
    model's hyperparameters and validation metrics."""

    FINALIZE_PARAMS = _CLASSIFIER_FINALIZE

    def finalize(self, criterion: str | None = None, **params: Any) -> "LinearLearnerClassificationModel":
        """Another selection from the kept state, no data: ``criterion`` sets
        binaryClassifierModelSelectionCriteria (or the multiclass one)."""
        if criterion is not None:
            name = "binaryClassifierModelSelectionCriteria" if self.numClasses == 2 else "multiclassModelSelectionCriteria"
            params[name] = criterion
        return super().finalize(**params)

    def _finalized(self) -> "LinearLearnerClassificationModel":
        self._solution  # validate the selection params now
        return self

    @property
    def _solution(self) -> LinearSolution:
        binary = self.numClasses == 2
        criterion = self.getOrDefault(
            self.binaryClassifierModelSelectionCriteria if binary else self.multiclassModelSelectionCriteria
        )
        key = (criterion, self.getOrDefault(self.fBeta), self.getOrDefault(self.targetRecall),
               self.getOrDefault(self.targetPrecision))  # fmt: skip
        return self._finalize_cached(key, lambda: self._state.finalize(*key))

    @property
    def numClasses(self) -> int:
        config = self._state.config
        return 2 if config.predictor == "binary_classifier" else config.classes

    @property
    def coefficients(self) -> DenseVector:
        """Binary: the coefficients on the raw features (MLlib's ``coefficients``)."""
        if self.numClasses != 2:
            raise ValueError("coefficients is for binary models; use coefficientMatrix for multiclass")
        return DenseVector(self._solution.coefficients[0])

    @property
    def intercept(self) -> float:
        if self.numClasses != 2:
            raise ValueError("intercept is for binary models; use interceptVector for multiclass")
        return float(self._solution.intercepts[0])

    @property
    def coefficientMatrix(self) -> DenseMatrix:
        """numClasses x d (1 x d for binary), as MLlib's."""
        c = self._solution.coefficients
        return DenseMatrix(c.shape[0], c.shape[1], c.ravel(order="F"))

    @property
    def interceptVector(self) -> DenseVector:
        return DenseVector(self._solution.intercepts)

    @property
    def threshold(self) -> float:
        """Binary: predict 1 when sigmoid(score) >= threshold (calibrated)."""
        return self._solution.threshold

    @property
    def selectedModel(self) -> int:
        return self._solution.selected

    def packedModels(self) -> list[dict[str, float]]:
        """Per packed model: hyperparameters and selection metrics ('criterion' is the
        value of the current selection criterion, larger is better)."""
        return packed_model_rows(self._state, self._solution)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        solution = self._solution
        binary = self.numClasses == 2
        probabilistic = self._state.config.loss != "hinge"
        scorer = partial(_classify, coefficients=solution.coefficients, intercepts=solution.intercepts,
                         threshold=solution.threshold, binary=binary)  # fmt: skip
        outputs = {self.getRawPredictionCol(): ("raw", VECTOR_ARROW_TYPE)}
        if probabilistic and self.getProbabilityCol():
            outputs[self.getProbabilityCol()] = ("probability", VECTOR_ARROW_TYPE)
        outputs[self.getPredictionCol()] = ("prediction", pa.float64())
        return add_scores(dataset, self._linear_input(dataset), scorer, outputs)


def binary_outputs(s: np.ndarray, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """MLlib's binary columns for scores s: rawPrediction [-s, s], probability
    [1 - p, p] with p = sigmoid(s), prediction 1 when p >= threshold."""
    p = 1.0 / (1.0 + np.exp(-np.clip(s, -700, 700)))
    return {
        "raw": np.column_stack([-s, s]),
        "probability": np.column_stack([1.0 - p, p]),
        "prediction": (p >= threshold).astype(np.float64),
    }


def _classify(x: Features, coefficients: np.ndarray, intercepts: np.ndarray, threshold: float,
              binary: bool) -> dict[str, np.ndarray]:  # fmt: skip
    s = linear_scores(x, coefficients, intercepts)
    if binary:
        return binary_outputs(s[:, 0], threshold)
    shifted = np.exp(s - s.max(axis=1, keepdims=True))
    return {
        "raw": s,
        "probability": shifted / shifted.sum(axis=1, keepdims=True),
        "prediction": s.argmax(axis=1).astype(np.float64),
    }


class _FMClassifierParams(_FMParams, HasRawPredictionCol, HasProbabilityCol):
    def __init__(self) -> None:
        super().__init__()
        self._setDefault(rawPredictionCol="rawPrediction", probabilityCol="probability")


class FMClassifier(_FMEstimator, _FMClassifierParams, DefaultParamsReadable, ParamsWritable):
    """Factorization machine for binary classification (log loss), trained in one pass
    (``maxIter`` passes) of mini-batch Adam over sparse or dense rows; labels 0 or 1.
    MLlib's param names where the concept is the same, SageMaker's per-term
    hyperparameters besides (see sagespark.factorization).

    >>> model = FMClassifier(factorSize=8).fit(df)                 # doctest: +SKIP
    >>> model.intercept, model.linear, model.factors               # doctest: +SKIP
    """

    PREDICTOR = "binary_classifier"

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "FMClassifier":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _model_class(self):
        return FMClassificationModel


class FMClassificationModel(_FMModel, _FMClassifierParams):
    """rawPrediction [-y, y] for the model's y(x), probability [1 - p, p] with
    p = sigmoid(y), prediction 1 when p >= 0.5."""

    @property
    def numClasses(self) -> int:
        return 2

    def _transform(self, dataset: DataFrame) -> DataFrame:
        outputs = {self.getRawPredictionCol(): ("raw", VECTOR_ARROW_TYPE)}
        if self.getProbabilityCol():
            outputs[self.getProbabilityCol()] = ("probability", VECTOR_ARROW_TYPE)
        outputs[self.getPredictionCol()] = ("prediction", pa.float64())
        return add_scores(dataset, self._fm_input(dataset), self._scorer(binary_outputs), outputs)



class _KNNClassifierParams(_KNNParams, HasRawPredictionCol, HasProbabilityCol):
    PREDICTOR = "classifier"

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(rawPredictionCol="rawPrediction", probabilityCol="probability")


class KNNClassifier(_KNNEstimator, _KNNClassifierParams, DefaultParamsReadable, ParamsWritable):
    """k-nearest-neighbour classification (SageMaker's k-NN, predictor_type
    'classifier'): one pass keeps a weighted reservoir sample of ``sampleSize``
    labelled rows; the index (flat or ivf, optionally projected) is built from it and
    every query is labelled by the majority vote of its k nearest sampled rows. Labels
    are class indices 0, 1, 2, ...

    >>> model = KNNClassifier(k=10, sampleSize=200_000).fit(df)    # doctest: +SKIP
    >>> model.finalize(k=25, indexType="ivf").transform(queries)   # doctest: +SKIP
    """

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "KNNClassifier":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _model_class(self):
        return KNNClassificationModel


class KNNClassificationModel(_KNNModel, _KNNClassifierParams):
    """rawPrediction: the votes per class among the k neighbours; probability: votes / k;
    prediction: the class with the most votes, a tie going to the smallest class index
    (as scikit-learn's KNeighborsClassifier). ``verbose`` adds the neighbours' distances
    and labels."""

    @property
    def numClasses(self) -> int:
        """max(sampled label) + 1."""
        return int(self._state.labels.max()) + 1

    def _check_labels(self, labels: np.ndarray) -> None:
        if not ((labels >= 0) & (labels == np.floor(labels))).all():
            raise ValueError("a k-NN classifier needs class-index labels (integers >= 0) in its sample")

    def _outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        outputs = {self.getRawPredictionCol(): ("raw", VECTOR_ARROW_TYPE)}
        if self.getProbabilityCol():
            outputs[self.getProbabilityCol()] = ("probability", VECTOR_ARROW_TYPE)
        outputs[self.getPredictionCol()] = ("prediction", pa.float64())
        return outputs

    def _predict(self):
        return partial(_knn_vote, num_classes=self.numClasses)


def _knn_vote(distances: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    votes = vote(labels, num_classes)
    return {"raw": votes, "probability": votes / labels.shape[1], "prediction": np.argmax(votes, axis=1).astype(float)}
