"""What LinearLearnerClassifier (sagespark.classification) and LinearLearnerRegressor
(sagespark.regression) share: SageMaker's linear learner params, the epoch loop and
the Model base. The algorithm lives in sagespark.states.linear.

A fit:
1. Normalization from the first ``numPointForScaler`` rows (one small ``limit`` job, as
   SageMaker's scaler sample): feature mean/std, the label's for regression, class
   weights.
2. Epochs: each is one fold over the data; every partition starts from the model the
   last epoch merged and the merge averages parameters and optimizer moments by rows
   trained. After an epoch the loop stops when the pass already converged (the
   progressive loss curve flattened within ``earlyStoppingTolerance`` over its last
   half: the common case on large data, one pass), or when the best selection loss did
   not improve by ``earlyStoppingTolerance`` (relative) for ``earlyStoppingPatience``
   epochs, or after ``epochs``.
3. finalize selects the model and calibrates the threshold from the last epoch's
   metrics (no extra pass).

``solver='exact'`` (regressor only) replaces 2-3 by one pass of exact sums.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.param import TypeConverters
from pyspark.ml.param.shared import HasLabelCol, HasPredictionCol, HasProbabilityCol, HasRawPredictionCol, HasSeed
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sagespark.spark.features import feature_spec, require_numeric
from sagespark.spark.fold import fold_dataset
from sagespark.spark.onepass import (
    EpochsModel,
    EpochsSummary,
    OnePassEstimator,
    PassResult,
    continued_state,
    scaler_sample,
    train_epochs,
)
from sagespark.spark.params import HasInputParams, param, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.progress import SAMPLE_PHASE, PhaseClock, pass_description
from sagespark.spark.scoring import add_scores
from sagespark.states.base import AUTO
from sagespark.states.linear import (
    AUTO_LEARNING_RATE,
    BINARY_CRITERIA,
    MULTICLASS_CRITERIA,
    ExactLeastSquares,
    LinearLearnerState,
    LinearSolution,
    Normalization,
    TrainingConfig,
    initial_weights,
    linear_classify,
    linear_regress,
    normalization_from_sample,
    packed_hyperparameters,
)
from sagespark.udfs.arrow import HOLDOUT, VECTOR_ARROW_TYPE, FeatureSpec
from sagespark.udfs.fold import partition_start_state

DEFAULT_NUM_MODELS = 32
# 'auto' numModels packs at most this many bytes of weights and optimizer moments (3
# doubles per weight): each epoch ships the state to every task and back, so a wide
# model packs fewer copies (32 up to d = 21,845 for binary; 6 at d = 100,000).
AUTO_PACKED_BYTES = 16 << 20
DEFAULT_LR_STEP, DEFAULT_LR_FACTOR, DEFAULT_LR_MIN = 100, 0.99, 1e-5
# SageMaker loss names -> kernel loss names
LOSS_NAMES = {
    "squared_loss": "squared", "absolute_loss": "absolute", "huber_loss": "huber", "quantile_loss": "quantile",
    "eps_insensitive_squared_loss": "eps_squared", "eps_insensitive_absolute_loss": "eps_absolute",
    "logistic": "logistic", "hinge_loss": "hinge", "softmax_loss": "softmax",
}  # fmt: skip
PREDICTOR_LOSSES = {
    "regressor": ("squared_loss", "absolute_loss", "huber_loss", "quantile_loss", "eps_insensitive_squared_loss",
                  "eps_insensitive_absolute_loss"),
    "binary_classifier": ("logistic", "hinge_loss"),
    "multiclass_classifier": ("softmax_loss",),
}  # fmt: skip


def _auto_or_float(value: Any) -> str | float:
    if isinstance(value, str):
        if value != AUTO:
            return float(value)
        return value
    return TypeConverters.toFloat(value)


def _auto_or_int(value: Any) -> str | int:
    if isinstance(value, str) and value == AUTO:
        return value
    return TypeConverters.toInt(value)


class _LinearLearnerParams(HasInputParams, HasLabelCol, HasPredictionCol, HasSeed):
    numModels = param("numModels", "models trained in parallel, each with its own learning rate, wd and l1 "
                       f"('auto': {DEFAULT_NUM_MODELS}, fewer for wide models: their weights and optimizer moments "
                       f"stay within {AUTO_PACKED_BYTES >> 20} MiB)", _auto_or_int)  # fmt: skip
    miniBatchSize = param("miniBatchSize", "rows per SGD step (> 0)", TypeConverters.toInt)
    epochs = param("epochs", "the most passes over the data (> 0)", TypeConverters.toInt)
    loss = param("loss", "the loss: 'auto' (squared_loss / logistic / softmax_loss) or one of "
                  f"{sorted(LOSS_NAMES)}", TypeConverters.toString)  # fmt: skip
    optimizer = param("optimizer", "'auto' (adam), 'adam', 'sgd' (with momentum), 'rmsprop' or 'adagrad'", TypeConverters.toString)
    learningRate = param("learningRate", f"step size of model 0 ('auto': {AUTO_LEARNING_RATE}, the other models "
                          "0.1x to 100x of it); the other models use 0.1x to 10x of a given one", _auto_or_float)  # fmt: skip
    beta1 = param("beta1", "adam's first-moment decay ('auto': 0.9)", _auto_or_float)
    beta2 = param("beta2", "adam's second-moment decay, rmsprop's decay ('auto': 0.999)", _auto_or_float)
    momentum = param("momentum", "sgd momentum ('auto': 0.9)", _auto_or_float)
    l1 = param("l1", "L1 penalty (proximal step) of model 0 ('auto': 0, the others spread over [1e-7, 1e-3) or 0)",
                _auto_or_float)  # fmt: skip
    wd = param("wd", "L2 penalty (weight decay) of model 0 ('auto': 0, the others spread over [1e-7, 1e-2))",
                _auto_or_float)  # fmt: skip
    useBias = param("useBias", "fit an intercept", TypeConverters.toBoolean)
    useLrScheduler = param("useLrScheduler", "decay the learning rate with the step count", TypeConverters.toBoolean)
    lrSchedulerStep = param("lrSchedulerStep", f"steps between decays ('auto': {DEFAULT_LR_STEP})", _auto_or_int)
    lrSchedulerFactor = param("lrSchedulerFactor", f"decay factor ('auto': {DEFAULT_LR_FACTOR})", _auto_or_float)
    lrSchedulerMinimumLr = param("lrSchedulerMinimumLr", f"learning-rate floor ('auto': {DEFAULT_LR_MIN})",
                                  _auto_or_float)  # fmt: skip
    normalizeData = param("normalizeData", "scale features to unit variance (on a sample) before training",
                           TypeConverters.toBoolean)  # fmt: skip
    unbiasData = param("unbiasData", "centre features: 'auto' (when the scaler sample is at least half "
                        "non-zero), 'true' or 'false'", TypeConverters.toString)  # fmt: skip
    numPointForScaler = param("numPointForScaler", "rows of the scaler sample (> 0)", TypeConverters.toInt)
    earlyStoppingPatience = param("earlyStoppingPatience", "epochs without improvement before stopping (> 0)",
                                   TypeConverters.toInt)  # fmt: skip
    earlyStoppingTolerance = param("earlyStoppingTolerance", "relative improvement that counts (> 0)",
                                    TypeConverters.toFloat)  # fmt: skip
    initMethod = param("initMethod", "'uniform' (initScale), 'normal' (initSigma) or 'zero'", TypeConverters.toString)
    initScale = param("initScale", "half-width of the uniform initial weights", TypeConverters.toFloat)
    initSigma = param("initSigma", "standard deviation of the normal initial weights", TypeConverters.toFloat)
    initBias = param("initBias", "initial intercept", TypeConverters.toFloat)
    validationIndicatorCol = param("validationIndicatorCol", "boolean column: true marks validation rows, used "
                                    "for model selection and not trained on", TypeConverters.toString)  # fmt: skip
    validationFraction = param("validationFraction", "fraction of rows held out (at random, seeded) for model "
                                "selection; 0 with no validation rows: select on the progressive loss of the "
                                "training rows", TypeConverters.toFloat)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            labelCol="label", predictionCol="prediction", numModels=AUTO, miniBatchSize=1000, epochs=15, loss=AUTO,
            optimizer=AUTO, learningRate=AUTO, beta1=AUTO, beta2=AUTO, momentum=AUTO, l1=AUTO, wd=AUTO,
            useBias=True, useLrScheduler=True, lrSchedulerStep=AUTO, lrSchedulerFactor=AUTO,
            lrSchedulerMinimumLr=AUTO, normalizeData=True, unbiasData=AUTO, numPointForScaler=10_000,
            earlyStoppingPatience=3, earlyStoppingTolerance=0.001, initMethod="uniform", initScale=0.07,
            initSigma=0.01, initBias=0.0, validationFraction=0.0, seed=stable_default_seed(self),
        )  # fmt: skip

    def _get(self, name: str, auto: Any = None) -> Any:
        value = self.getOrDefault(self.getParam(name))
        return auto if value == AUTO else value

    def _validation_column(self) -> str | None:
        if not self.isDefined(self.validationIndicatorCol):
            return None
        return self.getOrDefault(self.validationIndicatorCol) or None


class _LinearLearnerEstimator(OnePassEstimator, _LinearLearnerParams):
    PREDICTOR: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self._validation_data: DataFrame | None = None

    # ----------------------------------------------------------------- API
    def setValidationData(self, dataset: DataFrame | None) -> "_LinearLearnerEstimator":
        """Rows for model selection and calibration, scored but never trained on (not a
        Param: not saved with the estimator)."""
        self._validation_data = dataset
        return self

    def copy(self, extra: dict | None = None) -> "_LinearLearnerEstimator":
        copied = super().copy(extra)
        copied._validation_data = self._validation_data
        return copied

    # ----------------------------------------------------------------- subclass hooks
    def _predictor(self, num_classes: int) -> str:
        return self.PREDICTOR

    def _num_classes(self, dataset: DataFrame) -> int:
        """0 for regression; the classifier's class count."""
        return 0

    def _loss_parameter(self, loss: str) -> float:
        return 0.0

    def _positive_weight(self) -> float | str:
        return 1.0

    def _balance_multiclass(self) -> bool:
        return False

    def _exact_solver(self, n_features: int) -> bool:
        return False

    # ----------------------------------------------------------------- the fit
    def _input(self, dataset: DataFrame, n_features: int | None, num_classes: int = 0):
        features_col, features_cols, weight, handle_invalid = self._input_settings()
        indicator = self._validation_column()
        holdout = (F.col(indicator), indicator) if indicator else None
        return feature_spec(dataset, features_col, features_cols, weight, handle_invalid, n_features,
                            self.getLabelCol(), num_classes, holdout)  # fmt: skip

    def _labelled_input(self, dataset: DataFrame) -> tuple[DataFrame, list[Column], FeatureSpec]:
        """The rows to fold (training and validation rows, already selected) and their spec."""
        initial = self.getInitialModel()
        num_classes = initial.numClasses if initial is not None else self._num_classes(dataset)
        n_features = initial.numFeatures if initial is not None else None
        columns, spec = self._input(dataset, n_features, num_classes)
        selected = dataset.select(*columns)
        if self._validation_data is not None:
            v_columns, _ = self._input(self._validation_data, spec.n_features, spec.num_classes)
            validation = self._validation_data.select(*v_columns).withColumn(HOLDOUT, F.lit(True))
            if not spec.holdout_column:
                selected = selected.withColumn(HOLDOUT, F.lit(False))
            selected = selected.unionByName(validation)
            spec = replace(spec, holdout_column=spec.holdout_column or "validation data")
        return selected, [F.col(name) for name in spec.fields], spec

    def _has_validation(self) -> bool:
        return bool(self._validation_column() or self._validation_data is not None or self._fraction() > 0)

    def _fraction(self) -> float:
        fraction = self.getOrDefault(self.validationFraction)
        if not 0 <= fraction < 1:
            raise ValueError(f"validationFraction must be in [0, 1), got {fraction}")
        return fraction

    def _fit_pass(self, dataset: DataFrame) -> PassResult:
        rows, columns, spec = self._labelled_input(dataset)
        if self._exact_solver(spec.n_features):
            return self._exact_pass(rows, columns, spec)
        clock = PhaseClock()
        with clock.phase(SAMPLE_PHASE):
            start = self._start_state(rows, columns, spec)
        patience, tolerance = self.getOrDefault(self.earlyStoppingPatience), self.getOrDefault(self.earlyStoppingTolerance)
        kept, history, result = train_epochs(self, rows, columns, spec, start, self.getOrDefault(self.epochs), patience,
                                             tolerance, _state_bytes, clock)  # fmt: skip
        return PassResult(kept, self._summary(result.rows, result.skipped, history, clock.seconds))

    def _exact_pass(self, rows: DataFrame, columns: list[Column], spec: FeatureSpec) -> PassResult:
        empty = ExactLeastSquares(spec.n_features, self._fraction(), self.getSeed())
        result = fold_dataset(rows, columns, spec, partial(partition_start_state, start=empty.to_bytes()),
                              state_bytes=8 * (spec.n_features + 1) ** 2 * 2,
                              description=pass_description(self, 1, 1))  # fmt: skip
        clock = PhaseClock()
        clock.add(result.seconds)
        initial = self.getInitialModel()
        if initial is not None and not isinstance(initial._state, ExactLeastSquares):
            raise ValueError("an initial model trained with solver='sgd' cannot continue with solver='exact'")
        state = continued_state(result.state, initial, clock)
        return PassResult(state, self._summary(result.rows, result.skipped, [], clock.seconds))

    def _summary(self, rows: int, skipped: int, history: list[float], seconds: dict[str, float]) -> EpochsSummary:
        """``history``: one selection loss per epoch (empty for the exact solver's one pass)."""
        passes = max(len(history), 1)
        summary = EpochsSummary(rows, skipped, passes, seconds, numEpochs=passes,
                                objectiveHistory=tuple(float(h) for h in history))  # fmt: skip
        initial = self.getInitialModel()
        return summary.continuing(initial.summary if initial is not None else None)

    def _start_state(self, rows: DataFrame, columns: list[Column], spec: FeatureSpec) -> LinearLearnerState:
        """The first epoch's start: the initial model's parameters (continued training),
        else fresh weights and a normalization from the scaler sample."""
        initial = self.getInitialModel()
        if initial is not None:
            if not isinstance(initial._state, LinearLearnerState):
                raise ValueError("an initial model trained with solver='exact' cannot continue with SGD")
            return initial._state.for_partition(0)
        config = self._config(spec)
        sample = scaler_sample(rows, columns, spec, self.getOrDefault(self.numPointForScaler))
        norm = self._normalization(config, spec.n_features, sample)
        models = self._get("numModels") or auto_num_models(spec.n_features, config.classes)
        lr, wd, l1 = packed_hyperparameters(
            models, self._get("learningRate"), self._get("wd"), self._get("l1")
        )
        outputs = models * config.classes
        weights = initial_weights(spec.n_features, outputs, self.getOrDefault(self.initMethod),
                                  self.getOrDefault(self.initScale), self.getOrDefault(self.initSigma), self.getSeed())  # fmt: skip
        bias = np.full(outputs, self.getOrDefault(self.initBias))
        return LinearLearnerState(config, norm, lr, wd, l1, weights, bias)

    def _normalize_label(self) -> bool:
        return False

    def _normalization(self, config: TrainingConfig, n_features: int, sample: tuple | None) -> Normalization:
        """From the scaler sample (x, y, w); without valid rows in it, none (the pass then
        reports the invalid rows exactly, or trains on the valid rows beyond the sample)."""
        if sample is None:
            return Normalization(np.zeros(n_features), np.ones(n_features), False, 0.0, 1.0,
                                 np.ones(max(config.classes, 2)))  # fmt: skip
        return normalization_from_sample(
            *sample, config.predictor, config.classes, self.getOrDefault(self.normalizeData),
            self.getOrDefault(self.unbiasData), self._normalize_label(), self._positive_weight(),
            self._balance_multiclass(),
        )  # fmt: skip

    def _config(self, spec: FeatureSpec) -> TrainingConfig:
        predictor = self._predictor(spec.num_classes)
        loss = self.getOrDefault(self.loss)
        if loss == AUTO:
            loss = PREDICTOR_LOSSES[predictor][0]
        if loss not in PREDICTOR_LOSSES[predictor]:
            raise ValueError(f"loss {loss!r} does not apply to a {predictor}; use one of {PREDICTOR_LOSSES[predictor]}")
        optimizer = self._get("optimizer", "adam")
        scheduled = self.getOrDefault(self.useLrScheduler)
        beta1 = self._get("momentum", 0.9) if optimizer == "sgd" else self._get("beta1", 0.9)
        return TrainingConfig(
            predictor=predictor, loss=LOSS_NAMES[loss], loss_parameter=self._loss_parameter(loss),
            classes=spec.num_classes if predictor == "multiclass_classifier" else 1, optimizer=optimizer,
            beta1=beta1, beta2=self._get("beta2", 0.999), eps=1e-8, mini_batch_size=self.getOrDefault(self.miniBatchSize),
            use_bias=self.getOrDefault(self.useBias),
            lr_step=self._get("lrSchedulerStep", DEFAULT_LR_STEP) if scheduled else 0,
            lr_factor=self._get("lrSchedulerFactor", DEFAULT_LR_FACTOR),
            lr_min=self._get("lrSchedulerMinimumLr", DEFAULT_LR_MIN), holdout_fraction=self._fraction(),
            has_validation=self._has_validation(), seed=self.getSeed(),
        )  # fmt: skip


def auto_num_models(n_features: int, classes: int) -> int:
    """numModels='auto': 32, or fewer so that the packed weights and moments stay
    within AUTO_PACKED_BYTES."""
    return int(np.clip(AUTO_PACKED_BYTES // (24 * n_features * classes), 1, DEFAULT_NUM_MODELS))


def _state_bytes(state: LinearLearnerState) -> int:
    return 8 * 3 * state.wt.size + 8 * state.histogram.size


class _LinearLearnerModel(EpochsModel, _LinearLearnerParams):
    """The selected linear model; keeps the state (every packed model and its metrics).
    Its summary's objectiveHistory is the best packed model's mean selection loss per
    pass (the early-stopping curve)."""

    def _describe(self) -> dict[str, Any]:
        packed = {"packedModels": len(self._state.lr)} if isinstance(self._state, LinearLearnerState) else {}
        return {"numClasses": self.numClasses, **packed} if self.numClasses else {"solver": "exact" if not packed else "sgd", **packed}

    @property
    def numFeatures(self) -> int:
        return self._state.n_features

    @property
    def numClasses(self) -> int:
        return 0

    def _linear_input(self, dataset: DataFrame) -> tuple[list[Column], FeatureSpec]:
        features_col, features_cols, _, handle_invalid = self._input_settings()
        return feature_spec(dataset, features_col, features_cols, None, handle_invalid, self.numFeatures)


def packed_model_rows(state: LinearLearnerState, solution: LinearSolution) -> list[dict[str, float]]:
    metrics = solution.metrics
    rows = []
    for m in range(len(state.lr)):
        row = {"model": m, "learningRate": float(state.lr[m]), "wd": float(state.wd[m]), "l1": float(state.l1[m]),
               "loss": float(metrics.loss[m]), "criterion": float(metrics.criterion[m])}  # fmt: skip
        if np.isfinite(metrics.threshold[m]):
            row["threshold"] = float(metrics.threshold[m])
        if metrics.accuracy is not None:
            row["accuracy"] = float(metrics.accuracy[m])
        if metrics.mse is not None:
            row["mse"] = float(metrics.mse[m])
        rows.append(row)
    return rows


# ------------------------------------------------------------ classifier
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


@saved_as("sagespark.classification")
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


@saved_as("sagespark.classification")
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
        scorer = partial(linear_classify, coefficients=solution.coefficients, intercepts=solution.intercepts,
                         threshold=solution.threshold, binary=binary)  # fmt: skip
        outputs = {self.getRawPredictionCol(): ("raw", VECTOR_ARROW_TYPE)}
        if probabilistic and self.getProbabilityCol():
            outputs[self.getProbabilityCol()] = ("probability", VECTOR_ARROW_TYPE)
        outputs[self.getPredictionCol()] = ("prediction", pa.float64())
        return add_scores(dataset, self._linear_input(dataset), scorer, outputs)


# ------------------------------------------------------------- regressor
SOLVERS = ("auto", "sgd", "exact")
# solver='auto' solves squared loss exactly up to this many features (MLlib's
# LinearRegression 'auto' picks its normal equations up to the same d): the exact sums
# are one pass of d x d memory and give the least-squares optimum that SGD only
# approaches (on heavy-tailed targets a noise floor stayed ~1-3% above it in RMSE).
MAX_EXACT_FEATURES = 4096


class _RegressorParams(_LinearLearnerParams):
    solver = param("solver", "'sgd': SageMaker's packed SGD models; 'exact': exact least squares with an L2 "
                    "penalty (regParam) from one pass of exact sums (d x d memory); 'auto': exact for squared loss "
                    f"up to {MAX_EXACT_FEATURES} features (MLlib's rule) unless wd or l1 is set, else sgd",
                    TypeConverters.toString)  # fmt: skip
    regParam = param("regParam", "exact solver: L2 penalty r of 1/(2W) sum w (y - x b - c)^2 + r/2 |b|^2 (>= 0)",
                      TypeConverters.toFloat)  # fmt: skip
    regParamGrid = param("regParamGrid", "exact solver: candidate regParams; when set, the one with the lowest "
                          "validation MSE is used", TypeConverters.toListFloat)  # fmt: skip
    normalizeLabel = param("normalizeLabel", "sgd: standardize the label for training ('auto': yes)",
                            TypeConverters.toString)  # fmt: skip
    huberDelta = param("huberDelta", "huber_loss: quadratic within this distance (label units, > 0)",
                        TypeConverters.toFloat)  # fmt: skip
    quantile = param("quantile", "quantile_loss: the quantile, in (0, 1)", TypeConverters.toFloat)
    lossInsensitivity = param("lossInsensitivity", "eps-insensitive losses: the dead zone (label units, > 0)",
                               TypeConverters.toFloat)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(solver="auto", regParam=0.0, regParamGrid=[], normalizeLabel=AUTO, huberDelta=1.0,
                         quantile=0.5, lossInsensitivity=0.01)  # fmt: skip


_REGRESSOR_FINALIZE = frozenset({"regParam", "regParamGrid", "predictionCol"})


@saved_as("sagespark.regression")
class LinearLearnerRegressor(_LinearLearnerEstimator, _RegressorParams, DefaultParamsReadable, ParamsWritable):
    """SageMaker's linear learner for regression (squared, absolute, huber, quantile and
    eps-insensitive losses), or with ``solver='exact'`` ridge regression from exact
    one-pass sums, where regParam is finalize-time (fitMultiple serves a whole regParam
    grid with one pass).

    >>> model = LinearLearnerRegressor(solver="exact", regParamGrid=[0, 0.01, 0.1],
    ...                                validationFraction=0.2).fit(df)    # doctest: +SKIP
    >>> model.regParamChosen, model.coefficients                         # doctest: +SKIP
    """

    PREDICTOR = "regressor"
    FINALIZE_PARAMS = _REGRESSOR_FINALIZE

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "LinearLearnerRegressor":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _exact_solver(self, n_features: int) -> bool:
        solver = self.getOrDefault(self.solver)
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if solver != "auto":
            return solver == "exact"
        initial = self.getInitialModel()
        if initial is not None:
            return isinstance(initial._state, ExactLeastSquares)
        squared = self.getOrDefault(self.loss) in (AUTO, "squared_loss")
        penalized = self._get("wd") is not None or self._get("l1") is not None
        return squared and not penalized and n_features <= MAX_EXACT_FEATURES

    def _normalize_label(self) -> bool:
        value = self.getOrDefault(self.normalizeLabel)
        if value not in (AUTO, "true", "false"):
            raise ValueError(f"normalizeLabel must be 'auto', 'true' or 'false', got {value!r}")
        return value != "false"

    def _loss_parameter(self, loss: str) -> float:
        if loss == "huber_loss":
            return self.getOrDefault(self.huberDelta)
        if loss == "quantile_loss":
            q = self.getOrDefault(self.quantile)
            if not 0 < q < 1:
                raise ValueError(f"quantile must be in (0, 1), got {q}")
            return q
        if loss.startswith("eps_insensitive"):
            return self.getOrDefault(self.lossInsensitivity)
        return 0.0

    def _model_class(self):
        return LinearLearnerRegressionModel


@dataclass(frozen=True)
class _RegressionSolution:
    coefficients: np.ndarray
    intercept: float
    reg_param: float  # exact solver's chosen regParam (nan for sgd)
    validation_mse: np.ndarray  # exact: per regParam candidate
    selection: LinearSolution | None  # sgd: the packed-model selection


@saved_as("sagespark.regression")
class LinearLearnerRegressionModel(_LinearLearnerModel, _RegressorParams):
    """The selected regression model (sgd) or the ridge solution (exact); keeps the
    state, so ``finalize(regParam=...)`` re-solves an exact model without data."""

    FINALIZE_PARAMS = _REGRESSOR_FINALIZE

    def _finalized(self) -> "LinearLearnerRegressionModel":
        self._solution
        return self

    @property
    def _exact(self) -> bool:
        return isinstance(self._state, ExactLeastSquares)

    @property
    def _solution(self) -> _RegressionSolution:
        grid = tuple(self.getOrDefault(self.regParamGrid)) or (self.getOrDefault(self.regParam),)
        return self._finalize_cached(grid, lambda: self._solve(grid))

    def _solve(self, grid: tuple[float, ...]) -> _RegressionSolution:
        if self._exact:
            beta, intercept, chosen, errors = self._state.finalize(grid)
            return _RegressionSolution(beta, intercept, chosen, errors, None)
        selection = self._state.finalize()
        return _RegressionSolution(selection.coefficients[0], float(selection.intercepts[0]), float("nan"),
                                   np.array([]), selection)  # fmt: skip

    @property
    def coefficients(self) -> DenseVector:
        return DenseVector(self._solution.coefficients)

    @property
    def intercept(self) -> float:
        return self._solution.intercept

    @property
    def regParamChosen(self) -> float:
        """Exact solver: the regParam in use (the best of regParamGrid when set)."""
        return self._solution.reg_param

    @property
    def validationMSE(self) -> list[float]:
        """Exact solver: validation MSE per regParam candidate (nan without validation rows)."""
        return [float(e) for e in self._solution.validation_mse]

    @property
    def selectedModel(self) -> int:
        selection = self._solution.selection
        return selection.selected if selection is not None else 0

    def packedModels(self) -> list[dict[str, float]]:
        """SGD: every packed model's hyperparameters and validation loss and MSE."""
        selection = self._solution.selection
        if selection is None:
            raise ValueError("the exact solver trains no packed models")
        return packed_model_rows(self._state, selection)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        solution = self._solution
        scorer = partial(linear_regress, coefficients=solution.coefficients, intercept=solution.intercept)
        return add_scores(dataset, self._linear_input(dataset), scorer, {self.getPredictionCol(): ("prediction", pa.float64())})
