"""XGBoost: SageMaker's boosted trees as sagespark stages, trained by xgboost.spark.

sagespark does not boost: ``xgboost.spark`` (barrier tasks running XGBoost's own
collective allreduce) trains, and these stages add what a sagespark user expects around
it: the house's input layouts and bad-input errors (the rows are checked by the house's
decoding before xgboost sees them), SageMaker's hyperparameter names, defaults that use
the cluster (one worker per task slot, taken from a pool so concurrent fits wait
instead of deadlocking), MLlib's output columns, persistence in xgboost's own format,
and the one gain state > model gives boosting: a booster trained for N rounds holds the
model of every n <= N, so ``fitMultiple`` over a grid of ``numRound`` trains once and
``model.finalize(numRound=n)`` costs no data.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.linalg import DenseVector
from pyspark.ml.param import TypeConverters
from pyspark.ml.param.shared import (
    HasFeaturesCol, HasHandleInvalid, HasLabelCol, HasPredictionCol, HasProbabilityCol, HasRawPredictionCol,
    HasSeed, HasWeightCol,
)  # fmt: skip
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sagespark.spark.engines import BARRIER_SLOTS, barrier_workers, checked_rows, require_classic
from sagespark.spark.features import feature_spec
from sagespark.spark.params import HasAccessors, HasFeaturesCols, param
from sagespark.spark.persistence import ArraysPersisted, ParamsWritable, saved_as
from sagespark.spark.progress import job_description, pass_description
from sagespark.spark.scoring import add_scores
from sagespark.spark.tuning import SharedPassIterator
from sagespark.states.xgboost import best_rounds, load_booster, xgboost_classify, xgboost_regress
from sagespark.udfs.arrow import CLASS_INDEX_LABELS, VECTOR_ARROW_TYPE, FeatureSpec
from sagespark.udfs.rows import FEATURES, LABEL, VALIDATION, WEIGHT

# 'keep': NaN feature values are xgboost's missing values (every other check as 'error')
HANDLE_INVALID = ("error", "skip", "keep")
# sagespark param -> xgboost.spark param, for every booster hyperparameter the stages
# pass on (docs/xgboost.md has the table with SageMaker's names and defaults).
XGBOOST_NAMES = {
    "numRound": "n_estimators", "eta": "learning_rate", "maxDepth": "max_depth",
    "minChildWeight": "min_child_weight", "subsample": "subsample", "colsampleBytree": "colsample_bytree",
    "colsampleBylevel": "colsample_bylevel", "colsampleBynode": "colsample_bynode", "regLambda": "reg_lambda",
    "regAlpha": "reg_alpha", "gamma": "gamma", "maxBin": "max_bin", "maxDeltaStep": "max_delta_step",
    "maxLeaves": "max_leaves", "growPolicy": "grow_policy", "scalePosWeight": "scale_pos_weight",
    "treeMethod": "tree_method", "evalMetric": "eval_metric", "earlyStoppingRounds": "early_stopping_rounds",
    "baseScore": "base_score", "seed": "random_state", "device": "device",
}  # fmt: skip
# Params the model reads at transform time: a grid over them (and numRound) shares one
# training in fitMultiple.
PREDICTION_PARAMS = frozenset({"numRound", "predictionCol", "rawPredictionCol", "probabilityCol"})
# xgboost's EarlyStopping maximizes these metrics (by name prefix) and minimizes the rest.
_MAXIMIZED = ("auc", "aucpr", "pre", "map", "ndcg")
_XGBOOST_LOGGER = "XGBoost-PySpark"


def _optional(value: Any, unset: Any) -> Any:
    """xgboost's "unset" (None) for sagespark's sentinel values ('auto', '', 0)."""
    return None if value == unset else value


class _XGBoostParams(HasFeaturesCol, HasFeaturesCols, HasLabelCol, HasWeightCol, HasPredictionCol, HasHandleInvalid,
                     HasSeed, HasAccessors):  # fmt: skip
    numRound = param("numRound", "boosting rounds (SageMaker's num_round; xgboost's n_estimators)",
                     TypeConverters.toInt)  # fmt: skip
    eta = param("eta", "step-size shrinkage of each tree (xgboost's learning_rate)", TypeConverters.toFloat)
    maxDepth = param("maxDepth", "the deepest a tree grows (0: no limit, with growPolicy='lossguide')",
                     TypeConverters.toInt)  # fmt: skip
    minChildWeight = param("minChildWeight", "least hessian weight a child needs", TypeConverters.toFloat)
    subsample = param("subsample", "fraction of rows each tree samples", TypeConverters.toFloat)
    colsampleBytree = param("colsampleBytree", "fraction of columns each tree samples", TypeConverters.toFloat)
    colsampleBylevel = param("colsampleBylevel", "fraction of a tree's columns each level samples",
                             TypeConverters.toFloat)  # fmt: skip
    colsampleBynode = param("colsampleBynode", "fraction of a level's columns each split samples",
                            TypeConverters.toFloat)  # fmt: skip
    regLambda = param("regLambda", "L2 penalty on leaf weights (SageMaker's lambda)", TypeConverters.toFloat)
    regAlpha = param("regAlpha", "L1 penalty on leaf weights (SageMaker's alpha)", TypeConverters.toFloat)
    gamma = param("gamma", "least loss reduction a split needs", TypeConverters.toFloat)
    maxBin = param("maxBin", "histogram bins per feature (tree methods hist and approx)", TypeConverters.toInt)
    maxDeltaStep = param("maxDeltaStep", "cap on each leaf's step (0: none)", TypeConverters.toFloat)
    maxLeaves = param("maxLeaves", "most leaves per tree (0: no limit)", TypeConverters.toInt)
    growPolicy = param("growPolicy", "'depthwise' or 'lossguide'", TypeConverters.toString)
    treeMethod = param("treeMethod", "'auto' (xgboost's choice: hist), 'hist', 'approx' or 'exact'",
                       TypeConverters.toString)  # fmt: skip
    evalMetric = param("evalMetric", "metric reported per round and used by early stopping ('': the "
                       "objective's own, e.g. logloss, mlogloss, rmse)", TypeConverters.toString)  # fmt: skip
    earlyStoppingRounds = param("earlyStoppingRounds", "stop after this many rounds without improving the "
                                "validation metric and keep the best round (0: off; needs "
                                "validationIndicatorCol)", TypeConverters.toInt)  # fmt: skip
    baseScore = param("baseScore", "initial prediction of every row ('auto': xgboost estimates it from the "
                      "labels)", TypeConverters.toString)  # fmt: skip
    validationIndicatorCol = param("validationIndicatorCol", "boolean column: true marks validation rows, "
                                   "evaluated each round and not trained on", TypeConverters.toString)  # fmt: skip
    numWorkers = param("numWorkers", "xgboost workers, one barrier task each (0: one per task slot of the "
                       "cluster)", TypeConverters.toInt)  # fmt: skip
    device = param("device", "'cpu' or 'cuda' (one GPU per task)", TypeConverters.toString)
    handleInvalid = param("handleInvalid", "invalid rows (null, NaN or infinite features, wrong dimension, bad "
                          "label or weight): 'error' (the default) raises naming the column, partition and count, "
                          "'skip' drops and counts them, 'keep' passes NaN feature values to xgboost as missing "
                          "values (everything else as 'error')", TypeConverters.toString)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            featuresCol="features", featuresCols=[], labelCol="label", predictionCol="prediction",
            handleInvalid="error", seed=0, numRound=100, eta=0.3, maxDepth=6, minChildWeight=1.0, subsample=1.0,
            colsampleBytree=1.0, colsampleBylevel=1.0, colsampleBynode=1.0, regLambda=1.0, regAlpha=0.0, gamma=0.0,
            maxBin=256, maxDeltaStep=0.0, maxLeaves=0, growPolicy="depthwise", treeMethod="auto", evalMetric="",
            earlyStoppingRounds=0, baseScore="auto", validationIndicatorCol="", numWorkers=0, device="cpu",
        )  # fmt: skip

    def _weight_column(self) -> str | None:
        return (self.getWeightCol() if self.isDefined(self.weightCol) else "") or None

    def _validation_column(self) -> str | None:
        return self.getOrDefault(self.validationIndicatorCol) or None

    def _features(self, dataset: DataFrame, n_features: int | None, label: bool = False,
                  num_classes: int = 0) -> tuple[list[Column], FeatureSpec]:  # fmt: skip
        """The house's feature selection; with ``label``, the label, weight and
        validation columns too. handleInvalid='keep' is 'error' for every check but
        NaN feature values, which xgboost reads as missing."""
        handle_invalid = self.getHandleInvalid()
        if handle_invalid not in HANDLE_INVALID:
            raise ValueError(f"handleInvalid must be one of {HANDLE_INVALID}, got {handle_invalid!r}")
        holdout = None
        if label and (validation := self._validation_column()):
            holdout = (F.col(validation), validation)
        columns, spec = feature_spec(
            dataset, self.getFeaturesCol(), self.getFeaturesCols(), self._weight_column() if label else None,
            "error" if handle_invalid == "keep" else handle_invalid, n_features,
            label_col=self.getLabelCol() if label else None, num_classes=num_classes, holdout=holdout,
        )  # fmt: skip
        return columns, replace(spec, nan_is_missing=handle_invalid == "keep")


@dataclass(frozen=True)
class XGBoostSummary:
    """What a training did: rows trained on and skipped as invalid, the rounds the
    booster holds (``numRoundsTrained``; fewer than numRound when early stopping ended
    it), the rounds this model predicts with (``numRounds``) and its best iteration
    (``bestIteration`` = numRounds - 1, 0-based as xgboost's), the metric of every
    round per evaluation set ({'training': {metric: [...]}, 'validation': ...}), and
    the wall seconds of the checking pass and of xgboost's training. Models of one
    fitMultiple training share all but numRounds and bestIteration."""

    numRows: int
    numRowsSkipped: int
    numRoundsTrained: int
    numRounds: int
    evaluationHistory: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    phaseSeconds: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def bestIteration(self) -> int:
        return self.numRounds - 1

    @property
    def numPasses(self) -> int:
        """Passes over the data: the check, then xgboost's (it reads the rows once into
        its DMatrix and boosts in memory)."""
        return 2


@dataclass(frozen=True)
class _Training:
    """One xgboost.spark training: the booster (UBJ bytes) and what came with it."""

    booster: bytes
    rounds: int  # the booster's rounds, start_rounds included
    history: dict[str, dict[str, list[float]]]  # per round of this training
    rows: int
    skipped: int
    num_features: int
    num_classes: int
    seconds: dict[str, float]
    start_rounds: int = 0  # the rounds of the model this training continued (setInitialModel)

    def metadata(self) -> dict:
        return {"rounds": self.rounds, "history": self.history, "rows": self.rows, "skipped": self.skipped,
                "numFeatures": self.num_features, "numClasses": self.num_classes,
                "phaseSeconds": self.seconds, "startRounds": self.start_rounds}  # fmt: skip

    @classmethod
    def from_metadata(cls, booster: bytes, metadata: dict) -> "_Training":
        return cls(booster, int(metadata["rounds"]), metadata["history"], int(metadata["rows"]),
                   int(metadata["skipped"]), int(metadata["numFeatures"]), int(metadata["numClasses"]),
                   {str(k): float(v) for k, v in metadata.get("phaseSeconds", {}).items()},
                   int(metadata.get("startRounds", 0)))  # fmt: skip


@contextmanager
def _quiet_xgboost() -> Iterator[None]:
    """xgboost.spark logs every training's params at INFO; keep a user's level if set."""
    logger = logging.getLogger(_XGBOOST_LOGGER)
    level = logger.level
    if level == logging.NOTSET or level < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class _XGBoostEstimator(Estimator, _XGBoostParams):
    _CLASSIFIER: ClassVar[bool] = False
    FINALIZE_PARAMS: ClassVar[frozenset[str]] = frozenset({"numRound"})  # what model.finalize(...) takes

    def __init__(self) -> None:
        super().__init__()
        self._initial_model: _XGBoostModel | None = None

    def setInitialModel(self, model: "_XGBoostModel | None") -> "_XGBoostEstimator":
        """Continue training: the next fit adds numRound rounds to this model's booster
        (xgboost's ``xgb_model``; SageMaker's incremental training). Not a Param, so not
        saved with the estimator."""
        self._initial_model = model
        return self

    def getInitialModel(self) -> "_XGBoostModel | None":
        return self._initial_model

    def copy(self, extra: dict | None = None) -> "_XGBoostEstimator":
        copied = super().copy(extra)
        copied._initial_model = self._initial_model
        return copied

    def _engine(self) -> type:
        raise NotImplementedError

    def _model_class(self) -> type["_XGBoostModel"]:
        raise NotImplementedError

    def _booster_params(self, num_classes: int) -> dict[str, Any]:
        """xgboost.spark's params for this stage's hyperparameters (unset ones left to
        xgboost's defaults; scalePosWeight for two classes only)."""
        values = {name: self.getOrDefault(name) for name in XGBOOST_NAMES if self.hasParam(name)}
        if num_classes > 2:
            values.pop("scalePosWeight")
        values["evalMetric"] = _optional(values["evalMetric"], "")
        values["earlyStoppingRounds"] = _optional(values["earlyStoppingRounds"], 0)
        values["treeMethod"] = _optional(values["treeMethod"], "auto")
        values["baseScore"] = None if values["baseScore"] == "auto" else float(values["baseScore"])
        values["seed"] = values["seed"] % (1 << 31)
        if not self._CLASSIFIER:
            values["objective"] = self.getOrDefault("objective")
        return {XGBOOST_NAMES.get(name, name): value for name, value in values.items() if value is not None}

    def _fit(self, dataset: DataFrame) -> "_XGBoostModel":
        return self._model(self._train(dataset, self.getNumRound()), self.getNumRound())

    def fitMultiple(self, dataset: DataFrame, paramMaps: Sequence[dict]) -> Iterator[tuple[int, "_XGBoostModel"]]:
        """One training per group of paramMaps that differ only in PREDICTION_PARAMS,
        with the group's largest numRound; each paramMap's model predicts with its own
        numRound (the first rounds of the same trees)."""
        estimators = [self.copy(param_map) for param_map in paramMaps]

        def key(param_map: dict) -> tuple:
            settings = {**{p.name: v for p, v in self.extractParamMap().items()},
                        **{p.name: v for p, v in param_map.items()}}  # fmt: skip
            return tuple(sorted((name, repr(v)) for name, v in settings.items() if name not in PREDICTION_PARAMS))

        def train(indices: list[int]) -> _Training:
            rounds = max(estimators[i].getNumRound() for i in indices)
            return estimators[indices[0]]._train(dataset, rounds)

        def build(index: int, training: _Training) -> "_XGBoostModel":
            return estimators[index]._model(training, estimators[index].getNumRound())

        return SharedPassIterator(paramMaps, key, train, build)

    def _model(self, training: _Training, rounds: int) -> "_XGBoostModel":
        model = self._model_class()._from_training(training)
        self._copyValues(model)
        model._set(numRound=rounds)
        model._resetUid(self.uid)
        return model._checked()

    def _train(self, dataset: DataFrame, rounds: int) -> _Training:
        """Check the rows (one pass), then train ``rounds`` rounds with xgboost.spark on
        one worker per slot (or numWorkers), holding those slots in BARRIER_SLOTS."""
        spark = require_classic(dataset, f"{type(self).__name__}.fit")
        self._check_settings()
        timings: dict[str, float] = {}
        start = time.perf_counter()
        initial = self._initial_model
        columns, spec = self._features(dataset, initial.numFeatures if initial is not None else None, label=True,
                                       num_classes=CLASS_INDEX_LABELS if self._CLASSIFIER else 0)  # fmt: skip
        rows, census = checked_rows(dataset, columns, spec, pass_description(self, 1, 2))
        num_classes = self._num_classes(census.label_counts) if self._CLASSIFIER else 0
        if initial is not None and self._CLASSIFIER and num_classes != initial.numClasses:
            raise ValueError(f"the initial model has {initial.numClasses} classes, the data {num_classes}")
        if self.getEarlyStoppingRounds() and not census.holdout:
            raise ValueError("earlyStoppingRounds needs validation rows: set validationIndicatorCol to a boolean "
                             "column that is true for some rows")  # fmt: skip
        timings["check"] = time.perf_counter() - start
        workers, slots = barrier_workers(self.getNumWorkers(), spark)
        engine = self._engine()(
            features_col=FEATURES, label_col=LABEL, num_workers=workers, force_repartition=True, verbose=False,
            **({"weight_col": WEIGHT} if spec.weight_column else {}),
            **({"validation_indicator_col": VALIDATION} if spec.holdout_column else {}),
            **({"xgb_model": initial.get_booster()} if initial is not None else {}),
            **{**self._booster_params(num_classes), "n_estimators": rounds},
        )  # fmt: skip
        start = time.perf_counter()
        description = pass_description(self, 2, 2)
        with BARRIER_SLOTS.hold(workers, slots), _quiet_xgboost(), job_description(dataset, description):
            fitted = engine.fit(rows)
        timings["train"] = time.perf_counter() - start
        booster = fitted.get_booster()
        summary = fitted.training_summary
        history = {"training": dict(summary.train_objective_history)}
        if summary.validation_objective_history:
            history["validation"] = dict(summary.validation_objective_history)
        start_rounds = initial._rounds if initial is not None else 0
        rows_before = (initial.summary.numRows, initial.summary.numRowsSkipped) if initial is not None else (0, 0)
        return _Training(bytes(booster.save_raw("ubj")), booster.num_boosted_rounds(), history,
                         census.rows + rows_before[0], census.skipped + rows_before[1], spec.n_features,
                         num_classes, timings, start_rounds)  # fmt: skip

    def _check_settings(self) -> None:
        if self.getNumRound() < 1:
            raise ValueError(f"numRound must be >= 1, got {self.getNumRound()}")
        if self.getEarlyStoppingRounds() < 0:
            raise ValueError(f"earlyStoppingRounds must be >= 0 (0: off), got {self.getEarlyStoppingRounds()}")

    def _num_classes(self, label_counts: np.ndarray) -> int:
        return 0


class _XGBoostModel(Model, _XGBoostParams, ArraysPersisted):
    _training: _Training

    @classmethod
    def _from_training(cls, training: _Training) -> "_XGBoostModel":
        model = cls()
        model._training = training
        return model

    def _checked(self) -> "_XGBoostModel":
        if not 1 <= self.getNumRound():
            raise ValueError(f"numRound must be >= 1, got {self.getNumRound()}")
        return self

    @property
    def numFeatures(self) -> int:
        return self._training.num_features

    @property
    def _rounds(self) -> int:
        """The rounds this model predicts with: those of the model it continued, plus
        numRound (at most the rounds trained), cut at the best validation round when
        early stopping was on."""
        start = self._training.start_rounds
        rounds = min(self.getNumRound(), self._training.rounds - start)
        patience = self.getEarlyStoppingRounds() or None
        validation = self._training.history.get("validation")
        if patience is None or not validation:
            return start + rounds
        metric, history = list(validation.items())[-1]  # xgboost stops on the last metric
        return start + best_rounds(history[:rounds], metric.startswith(_MAXIMIZED), patience)

    def finalize(self, numRound: int | None = None) -> "_XGBoostModel":
        """This model predicting with the first ``numRound`` rounds of its trees (at
        most the rounds trained, unless early stopping ended the training: then any
        numRound, cut at the best round as a fit of that many would be); no data."""
        copied = self.copy()
        if numRound is not None:
            trained = self._training.rounds - self._training.start_rounds
            if numRound > trained and not self.getEarlyStoppingRounds():
                raise ValueError(f"this model holds {trained} rounds; finalize(numRound=n) takes n <= {trained}")
            copied._set(numRound=numRound)
        return copied._checked()

    def copy(self, extra: dict | None = None) -> "_XGBoostModel":
        copied = super().copy(extra)
        copied._training = self._training
        return copied._checked()

    @property
    def summary(self) -> XGBoostSummary:
        t = self._training
        return XGBoostSummary(t.rows, t.skipped, t.rounds, self._rounds, t.history, dict(t.seconds))

    def get_booster(self) -> Any:
        """The ``xgboost.Booster`` of the rounds this model predicts with
        (xgboost.spark's name)."""
        booster = load_booster(self._training.booster)
        return booster[: self._rounds] if self._rounds < self._training.rounds else booster.copy()

    @property
    def featureImportances(self) -> DenseVector:
        """MLlib's GBT importances: each feature's total gain over the model's trees,
        normalized to sum to 1 (0 for features no split uses)."""
        gains = self.get_booster().get_score(importance_type="total_gain")
        importances = np.zeros(self.numFeatures)
        for name, gain in gains.items():
            importances[int(name[1:])] = gain
        total = importances.sum()
        return DenseVector(importances / total if total > 0 else importances)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(uid={self.uid}, numFeatures={self.numFeatures}, numRound={self._rounds}, "
                f"rows={self.summary.numRows}, passes={self.summary.numPasses})")  # fmt: skip

    def _transform(self, dataset: DataFrame) -> DataFrame:
        nthread = int(dataset.sparkSession.conf.get("spark.task.cpus", "1") or 1)
        scorer = partial(type(self)._SCORER, booster=self._training.booster, rounds=self._rounds, nthread=nthread)
        return add_scores(dataset, self._features(dataset, self.numFeatures), scorer, self._outputs())

    def _outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        """{output column: (scorer key, Arrow type)}."""
        return {self.getPredictionCol(): ("prediction", pa.float64())}

    # persistence: the booster in xgboost's UBJ format, never pickle --------------
    def _model_metadata(self) -> dict:
        return self._training.metadata()

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"booster": np.frombuffer(self._training.booster, dtype=np.uint8)}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], metadata: dict) -> "_XGBoostModel":
        booster = np.asarray(arrays["booster"], dtype=np.uint8).tobytes()
        return cls._from_training(_Training.from_metadata(booster, metadata))

    def _loaded(self) -> None:
        self._checked()


# ------------------------------------------------------------- classifier
class _ClassifierParams(_XGBoostParams, HasRawPredictionCol, HasProbabilityCol):
    scalePosWeight = param("scalePosWeight", "weight of the positive class's rows (binary labels)",
                           TypeConverters.toFloat)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(rawPredictionCol="rawPrediction", probabilityCol="probability", scalePosWeight=1.0)


@saved_as("sagespark.classification")
class XGBoostClassifier(_XGBoostEstimator, _ClassifierParams, DefaultParamsReadable, ParamsWritable):
    """Gradient-boosted trees for classification, trained by ``xgboost.spark``
    (binary:logistic for two classes, multi:softprob for more; labels 0..K-1 with every
    class present), with SageMaker's hyperparameter names and MLlib's outputs.

    >>> clf = XGBoostClassifier(numRound=200, maxDepth=6, eta=0.1)     # doctest: +SKIP
    >>> model = clf.fit(train)                                          # doctest: +SKIP
    >>> model.finalize(numRound=50).transform(test)                     # doctest: +SKIP
    """

    _CLASSIFIER = True

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "XGBoostClassifier":
        return self._set(**kwargs)

    def _engine(self) -> type:
        from xgboost.spark import SparkXGBClassifier

        return SparkXGBClassifier

    def _model_class(self) -> type["XGBoostClassificationModel"]:
        return XGBoostClassificationModel

    def _num_classes(self, label_counts: np.ndarray) -> int:
        """max(label) + 1, when every class 0..max has rows (xgboost.spark sets
        num_class to the number of distinct labels)."""
        present, missing = np.flatnonzero(label_counts > 0), np.flatnonzero(label_counts == 0)
        if len(present) < 2:
            raise ValueError(f"column '{self.getLabelCol()}': every valid row has label {float(present[0])}; a "
                             "classifier needs rows of at least two classes")  # fmt: skip
        if len(missing):
            raise ValueError(f"column '{self.getLabelCol()}': labels must be 0..{len(label_counts) - 1} with every "
                             f"class present, but class {int(missing[0])} has no rows (xgboost counts the "
                             "distinct labels as the classes)")  # fmt: skip
        return len(label_counts)


@saved_as("sagespark.classification")
class XGBoostClassificationModel(_XGBoostModel, _ClassifierParams):
    """A trained booster with MLlib's classifier outputs: ``rawPrediction`` (binary:
    [-m, m] for the margin m; K classes: the K margins), ``probability`` and
    ``prediction``."""

    _SCORER = staticmethod(xgboost_classify)

    @property
    def numClasses(self) -> int:
        return self._training.num_classes

    def _outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        outputs = {}
        if self.getRawPredictionCol():
            outputs[self.getRawPredictionCol()] = ("raw", VECTOR_ARROW_TYPE)
        if self.getProbabilityCol():
            outputs[self.getProbabilityCol()] = ("probability", VECTOR_ARROW_TYPE)
        return {**outputs, self.getPredictionCol(): ("prediction", pa.float64())}


# ------------------------------------------------------------- regressor
class _RegressorParams(_XGBoostParams):
    objective = param("objective", "xgboost's learning objective: 'reg:squarederror', 'reg:absoluteerror', "
                      "'reg:pseudohubererror', 'reg:squaredlogerror', 'reg:logistic', 'count:poisson', "
                      "'reg:gamma', 'reg:tweedie', 'reg:quantileerror', ...", TypeConverters.toString)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(objective="reg:squarederror")


@saved_as("sagespark.regression")
class XGBoostRegressor(_XGBoostEstimator, _RegressorParams, DefaultParamsReadable, ParamsWritable):
    """Gradient-boosted trees for regression, trained by ``xgboost.spark``, with
    SageMaker's hyperparameter names and MLlib's ``prediction`` column.

    >>> model = XGBoostRegressor(numRound=300, eta=0.1).fit(train)     # doctest: +SKIP
    """

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "XGBoostRegressor":
        return self._set(**kwargs)

    def _engine(self) -> type:
        from xgboost.spark import SparkXGBRegressor

        return SparkXGBRegressor

    def _model_class(self) -> type["XGBoostRegressionModel"]:
        return XGBoostRegressionModel


@saved_as("sagespark.regression")
class XGBoostRegressionModel(_XGBoostModel, _RegressorParams):
    """A trained booster with MLlib's regressor output ``prediction``."""

    _SCORER = staticmethod(xgboost_regress)
