"""What FMClassifier (sagespark.classification) and FMRegressor (sagespark.regression)
share: the params, the epoch loop and the Model base. The algorithm lives in
sagespark.states.fm and sagespark.kernels.fm.

Params follow MLlib's FMClassifier/FMRegressor where the concept is the same
(factorSize, fitIntercept, fitLinear, regParam, initStd, maxIter, stepSize, solver,
seed) and add SageMaker's per-term hyperparameters (biasLr, linearLr, factorsLr,
biasWd, ..., factorsInitMethod, ...). A per-term param that is set wins; otherwise
MLlib's param, when set, applies to every term (stepSize: the learning rates, regParam:
the weight decays, initStd: the factors' initial standard deviation); otherwise the
per-term default applies.

A fit makes at most ``maxIter`` passes (default 30) and stops early on the loss of the
held-out ``validationFraction`` of the rows (sagespark.spark.onepass.train_epochs),
returning the model of the best pass. Each pass folds the data into the state
(every partition trains from the last merged model, the merge averages), so the
number of models trained side by side is the number of partitions folded. An average
of fewer, longer-trained models loses less than an average of many short ones (the
factors are learned jointly, so a partition's model improves with the rows it has
already seen), so the pass folds ``numLearners`` partitions: 'auto' is Spark's
default parallelism (the cluster's cores), which keeps every core busy. Partitions are
combined with ``coalesce`` (no shuffle).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.param import Param, TypeConverters
from pyspark.ml.param.shared import HasLabelCol, HasPredictionCol, HasProbabilityCol, HasRawPredictionCol, HasSeed
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sagespark.kernels import Features
from sagespark.kernels.linear import OPTIMIZERS
from sagespark.spark.features import feature_spec
from sagespark.spark.onepass import (
    EpochsModel,
    EpochsSummary,
    OnePassEstimator,
    PassResult,
    scaler_sample,
    train_epochs,
)
from sagespark.spark.params import HasInputParams, auto_or_int, param, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.progress import SAMPLE_PHASE, PhaseClock
from sagespark.spark.scoring import add_scores
from sagespark.spark.session import spark_context
from sagespark.states.base import AUTO
from sagespark.states.fm import FMConfig, FMSolution, FMState, fm_outputs, fm_prediction
from sagespark.states.linear import normalization_from_sample
from sagespark.states.sgd import binary_outputs
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec

TERMS = ("bias", "linear", "factors")
INIT_METHODS = ("normal", "uniform", "constant")
# per-term defaults (measured on the benchmark's click data, see docs/factorization_machines.md)
DEFAULT_LR = {"bias": 0.01, "linear": 0.003, "factors": 0.003}
DEFAULT_INIT = {"bias": ("constant", 0.0), "linear": ("constant", 0.0), "factors": ("normal", 0.05)}
# Passes stop early (sagespark.spark.onepass.train_epochs). After the first pass the
# progressive loss scores rows the model was trained on, and an FM memorizes its users
# and items (measured on MovieLens: held-out AUC 0.770 after 10 passes, 0.735 after 30
# while the progressive loss kept falling), so the signal is the loss of held-out rows.
# On the 1M-row click benchmark the fit stops after 2 passes (the loss curve flattened
# within the second) at AUC 0.810 on 90% of the rows, against 0.803 for one pass on all.
DEFAULT_MAX_PASSES, DEFAULT_VALIDATION_FRACTION = 30, 0.1
# A pass makes rows / (learners x miniBatchSize) Adam steps per learner; on a few
# hundred rows 100-row batches make 2 and 15 passes stay far from the optimum
# (breast_cancer: AUC 0.949 with 100-row batches, 0.972 with 10).
DEFAULT_MINI_BATCH, MIN_STEPS_PER_PASS = 100, 20


def _term_params(term: str) -> dict[str, Param]:
    """SageMaker's per-term hyperparameters of one term (bias, linear or factors)."""
    return {
        f"{term}Lr": param(f"{term}Lr", f"learning rate of the {term} term (>= 0; default "
                            f"{DEFAULT_LR[term]}, or stepSize when that is set)", TypeConverters.toFloat),
        f"{term}Wd": param(f"{term}Wd", f"L2 weight decay of the {term} term (>= 0; default 0, or regParam when "
                            "that is set); applied to a parameter when a mini-batch touches it", TypeConverters.toFloat),
        f"{term}InitMethod": param(f"{term}InitMethod", f"initial {term} values: 'normal' (sigma), 'uniform' "
                                    f"(+-scale) or 'constant' (value); default {DEFAULT_INIT[term][0]!r}",
                                    TypeConverters.toString),
        f"{term}InitSigma": param(f"{term}InitSigma", f"standard deviation of the normal initial {term} values",
                                   TypeConverters.toFloat),
        f"{term}InitScale": param(f"{term}InitScale", f"half-width of the uniform initial {term} values",
                                   TypeConverters.toFloat),
        f"{term}InitValue": param(f"{term}InitValue", f"the constant initial {term} value", TypeConverters.toFloat),
    }  # fmt: skip


class _FMParams(HasInputParams, HasLabelCol, HasPredictionCol, HasSeed):
    factorSize = param("factorSize", "dimension of the factors (> 0)", TypeConverters.toInt)
    fitIntercept = param("fitIntercept", "learn the global bias w0", TypeConverters.toBoolean)
    fitLinear = param("fitLinear", "learn the linear weights w", TypeConverters.toBoolean)
    regParam = param("regParam", "L2 weight decay of every term (>= 0), unless biasWd / linearWd / factorsWd is set",
                      TypeConverters.toFloat)  # fmt: skip
    initStd = param("initStd", "standard deviation of the initial factors, unless factorsInitSigma is set",
                     TypeConverters.toFloat)  # fmt: skip
    maxIter = param("maxIter", "the most passes over the data (> 0; SageMaker's epochs); each pass starts from the "
                     "last merged model, and early stopping usually ends the fit before", TypeConverters.toInt)  # fmt: skip
    validationFraction = param("validationFraction", "fraction of rows held out (at random, seeded) and never "
                                "trained on: their loss is the early-stopping signal and picks the pass whose model "
                                "is returned; 0: the progressive loss of the training rows", TypeConverters.toFloat)  # fmt: skip
    earlyStoppingPatience = param("earlyStoppingPatience", "passes without improvement before stopping (> 0)",
                                   TypeConverters.toInt)  # fmt: skip
    earlyStoppingTolerance = param("earlyStoppingTolerance", "relative improvement of the validation loss that "
                                    "counts (> 0)", TypeConverters.toFloat)  # fmt: skip
    stepSize = param("stepSize", "learning rate of every term (> 0), unless biasLr / linearLr / factorsLr is set",
                      TypeConverters.toFloat)  # fmt: skip
    solver = param("solver", f"the optimizer: one of {OPTIMIZERS} ('sgd' with momentum)", TypeConverters.toString)
    miniBatchSize = param("miniBatchSize", f"rows per optimizer step (> 0); 'auto': {DEFAULT_MINI_BATCH}, or on "
                           "a dataset smaller than the scaler sample as many as give each learner "
                           f"{MIN_STEPS_PER_PASS} steps per pass", auto_or_int)  # fmt: skip
    beta1 = param("beta1", "adam's first-moment decay", TypeConverters.toFloat)
    beta2 = param("beta2", "adam's second-moment decay, rmsprop's decay", TypeConverters.toFloat)
    momentum = param("momentum", "sgd momentum", TypeConverters.toFloat)
    eps = param("eps", "adam / rmsprop / adagrad denominator guard (> 0)", TypeConverters.toFloat)
    numPointForScaler = param("numPointForScaler", "rows of the scaler sample (> 0): the first rows, read before "
                               "the first pass", TypeConverters.toInt)  # fmt: skip
    numLearners = param("numLearners", "partitions trained side by side in a pass ('auto': Spark's default "
                         "parallelism; more input partitions are coalesced to this many)", auto_or_int)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            labelCol="label", predictionCol="prediction", factorSize=8, fitIntercept=True, fitLinear=True,
            maxIter=DEFAULT_MAX_PASSES, validationFraction=DEFAULT_VALIDATION_FRACTION, earlyStoppingPatience=3,
            earlyStoppingTolerance=0.001, numPointForScaler=10_000, solver="adam", miniBatchSize=AUTO, beta1=0.9,
            beta2=0.999, momentum=0.0, eps=1e-8,
            numLearners=AUTO, seed=stable_default_seed(self),
            **{f"{term}Lr": DEFAULT_LR[term] for term in TERMS}, **{f"{term}Wd": 0.0 for term in TERMS},
            **{f"{term}InitMethod": DEFAULT_INIT[term][0] for term in TERMS},
            **{f"{term}InitSigma": 0.01 for term in TERMS}, **{f"{term}InitScale": 0.01 for term in TERMS},
            **{f"{term}InitValue": 0.0 for term in TERMS},
        )  # fmt: skip
        self._setDefault(factorsInitSigma=DEFAULT_INIT["factors"][1])

    def _term_value(self, term: str, kind: str) -> float:
        """A term's Lr / Wd / InitSigma: the per-term param if set, else MLlib's param
        (stepSize / regParam / initStd) if set, else the per-term default."""
        own = self.getParam(f"{term}{kind}")
        if self.isSet(own):
            return self.getOrDefault(own)
        overall = {"Lr": self.stepSize, "Wd": self.regParam, "InitSigma": self.initStd if term == "factors" else None}
        shared = overall[kind]
        if shared is not None and self.isSet(shared):
            return self.getOrDefault(shared)
        return self.getOrDefault(own)


for _term in TERMS:
    for _name, _term_param in _term_params(_term).items():
        setattr(_FMParams, _name, _term_param)


class _FMEstimator(OnePassEstimator, _FMParams):
    PREDICTOR: str

    def _input(self, dataset: DataFrame, n_features: int | None):
        features_col, features_cols, weight, handle_invalid = self._input_settings()
        num_classes = 2 if self.PREDICTOR == "binary_classifier" else 0
        return feature_spec(dataset, features_col, features_cols, weight, handle_invalid, n_features,
                            self.getLabelCol(), num_classes)  # fmt: skip

    def _fit_pass(self, dataset: DataFrame) -> PassResult:
        passes = self.getOrDefault(self.maxIter)
        if passes < 1:
            raise ValueError(f"maxIter must be > 0, got {passes}")
        initial = self.getInitialModel()
        columns, spec = self._input(dataset, initial.numFeatures if initial is not None else None)
        rows = self._learner_partitions(dataset.select(*columns))
        fields = [F.col(name) for name in spec.fields]
        clock = PhaseClock()
        if initial is not None:
            state = initial._state.for_partition(0)
        else:
            with clock.phase(SAMPLE_PHASE):
                state = self._start_state(rows, fields, spec)
        state, history, result = train_epochs(
            self, rows, fields, spec, state, passes, self.getOrDefault(self.earlyStoppingPatience),
            self.getOrDefault(self.earlyStoppingTolerance), lambda s: 8 * (3 * s.params.size + s.n_features), clock,
        )  # fmt: skip
        summary = EpochsSummary(result.rows, result.skipped, len(history), clock.seconds, numEpochs=len(history),
                                objectiveHistory=tuple(history))  # fmt: skip
        return PassResult(state, summary.continuing(initial.summary if initial is not None else None))

    def _learner_partitions(self, rows: DataFrame) -> DataFrame:
        """``rows`` coalesced to numLearners partitions when it has more."""
        value = self.getOrDefault(self.numLearners)
        if value == AUTO:
            if spark_context(rows) is None:  # Spark Connect: the partitioning is kept
                return rows
            learners = rows.sparkSession.sparkContext.defaultParallelism
        else:
            learners = int(value)
            if learners < 1:
                raise ValueError(f"numLearners must be 'auto' or > 0, got {value}")
        if spark_context(rows) is not None and rows.rdd.getNumPartitions() <= learners:
            return rows
        return rows.coalesce(learners)

    def _mini_batch_size(self, rows: int | None, learners: int | None) -> int:
        """miniBatchSize, or 'auto': DEFAULT_MINI_BATCH, fewer when the whole dataset of
        ``rows`` rows (known from the scaler sample) would give a learner fewer than
        MIN_STEPS_PER_PASS steps per pass."""
        value = self.getOrDefault(self.miniBatchSize)
        if value != AUTO:
            return int(value)
        if rows is None or not learners:
            return DEFAULT_MINI_BATCH
        return int(np.clip(rows // (learners * MIN_STEPS_PER_PASS), 1, DEFAULT_MINI_BATCH))

    def _config(self, rows: int | None = None, learners: int | None = None) -> FMConfig:
        fit = {"bias": self.getOrDefault(self.fitIntercept), "linear": self.getOrDefault(self.fitLinear),
               "factors": True}  # fmt: skip
        lr = {term: self._term_value(term, "Lr") if fit[term] else 0.0 for term in TERMS}
        wd = {term: self._term_value(term, "Wd") for term in TERMS}
        solver = self.getOrDefault(self.solver)
        beta1 = self.getOrDefault(self.momentum) if solver == "sgd" else self.getOrDefault(self.beta1)
        return FMConfig(
            predictor=self.PREDICTOR, factors=self.getOrDefault(self.factorSize), optimizer=solver,
            mini_batch_size=self._mini_batch_size(rows, learners), beta1=beta1, beta2=self.getOrDefault(self.beta2),
            eps=self.getOrDefault(self.eps), bias_lr=lr["bias"], linear_lr=lr["linear"], factors_lr=lr["factors"],
            bias_wd=wd["bias"], linear_wd=wd["linear"], factors_wd=wd["factors"],
            holdout_fraction=self._validation_fraction(), seed=self.getSeed(),
        )  # fmt: skip

    def _validation_fraction(self) -> float:
        fraction = self.getOrDefault(self.validationFraction)
        if not 0 <= fraction < 1:
            raise ValueError(f"validationFraction must be in [0, 1), got {fraction}")
        return float(fraction)

    def _start_state(self, rows: DataFrame, columns: list, spec: FeatureSpec) -> FMState:
        """Fresh parameters drawn from the init params (seeded; a term that is not fit
        starts, and stays, at 0) and the normalization from the scaler sample: each
        feature divided by the root mean square of its non-zero values (a one-hot or
        hashed indicator keeps scale 1 and sparse rows stay sparse; dense columns of
        very different scales all reach ~1, so one step size fits every column), and
        the regressor's label standardized."""
        count = self.getOrDefault(self.numPointForScaler)
        sample = scaler_sample(rows, columns, spec, count)
        whole = len(sample[2]) if sample is not None and len(sample[2]) < count else None
        config = self._config(whole, _partitions(rows))
        inv_scale, shift, scale = np.ones(spec.n_features), 0.0, 1.0
        if sample is not None:
            regressor = self.PREDICTOR == "regressor"
            norm = normalization_from_sample(*sample, predictor=self.PREDICTOR, classes=0, normalize_data=True,
                                             unbias_data="false", normalize_label=regressor, positive_weight=1.0,
                                             balance_multiclass=False)  # fmt: skip
            inv_scale, shift, scale = norm.inv_scale, norm.label_shift, norm.label_scale
        rng = np.random.default_rng(self.getSeed())
        bias = self._initial("bias", (), rng) if self.getOrDefault(self.fitIntercept) else 0.0
        d = spec.n_features
        linear = self._initial("linear", (d,), rng) if self.getOrDefault(self.fitLinear) else np.zeros(d)
        factors = self._initial("factors", (d, config.factors), rng)
        return FMState(config, float(bias), linear, factors, inv_scale, shift, scale)

    def _initial(self, term: str, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
        method = self.getOrDefault(self.getParam(f"{term}InitMethod"))
        if method == "normal":
            return rng.normal(0.0, self._term_value(term, "InitSigma"), shape)
        if method == "uniform":
            scale = self.getOrDefault(self.getParam(f"{term}InitScale"))
            return rng.uniform(-scale, scale, shape)
        if method == "constant":
            return np.full(shape, self.getOrDefault(self.getParam(f"{term}InitValue")))
        raise ValueError(f"{term}InitMethod must be one of {INIT_METHODS}, got {method!r}")


def _partitions(rows: DataFrame) -> int | None:
    """The partition count where Spark tells it cheaply (not on Spark Connect)."""
    return rows.rdd.getNumPartitions() if spark_context(rows) is not None else None


class _FMModel(EpochsModel, _FMParams):
    """The trained factorization machine (MLlib's ``intercept``, ``linear``, ``factors``);
    keeps the state (parameters and optimizer moments) for incremental training. Its
    summary's objectiveHistory is each pass's early-stopping signal (held-out or progressive loss)."""

    def _describe(self) -> dict[str, Any]:
        return {"factorSize": int(self._solution.factors.shape[1])}

    @property
    def _solution(self) -> FMSolution:
        return self._finalize_cached((), self._state.finalize)

    @property
    def numFeatures(self) -> int:
        return self._state.n_features

    @property
    def intercept(self) -> float:
        return self._solution.intercept

    @property
    def linear(self) -> DenseVector:
        return DenseVector(self._solution.linear)

    @property
    def factors(self) -> DenseMatrix:
        """d x factorSize (MLlib's layout)."""
        v = self._solution.factors
        return DenseMatrix(v.shape[0], v.shape[1], v.ravel(order="F"))

    def _fm_input(self, dataset: DataFrame):
        features_col, features_cols, _, handle_invalid = self._input_settings()
        return feature_spec(dataset, features_col, features_cols, None, handle_invalid, self.numFeatures)

    def _scorer(self, outputs: Callable[[np.ndarray], dict[str, np.ndarray]]) -> Callable[[Features], dict]:
        """``outputs(y)`` of the model's scores y of a batch, as a picklable per-batch function."""
        solution = self._solution
        params = np.column_stack([solution.linear, solution.factors])
        return partial(fm_outputs, outputs=outputs, intercept=solution.intercept, params=params)



# ------------------------------------------------------------ classifier
class _FMClassifierParams(_FMParams, HasRawPredictionCol, HasProbabilityCol):
    def __init__(self) -> None:
        super().__init__()
        self._setDefault(rawPredictionCol="rawPrediction", probabilityCol="probability")


@saved_as("sagespark.classification")
class FMClassifier(_FMEstimator, _FMClassifierParams, DefaultParamsReadable, ParamsWritable):
    """Factorization machine for binary classification (log loss), trained in one pass
    (``maxIter`` passes) of mini-batch Adam over sparse or dense rows; labels 0 or 1.
    MLlib's param names where the concept is the same, SageMaker's per-term
    hyperparameters besides (see sagespark.algorithms.fm).

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


@saved_as("sagespark.classification")
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


# ------------------------------------------------------------- regressor
@saved_as("sagespark.regression")
class FMRegressor(_FMEstimator, DefaultParamsReadable, ParamsWritable):
    """Factorization machine for regression (squared loss), trained in one pass
    (``maxIter`` passes) of mini-batch Adam over sparse or dense rows. MLlib's param
    names where the concept is the same, SageMaker's per-term hyperparameters besides
    (see sagespark.algorithms.fm). Labels are not rescaled: with the default step sizes
    the intercept moves about 0.01 per mini-batch, so labels far from 0 train faster
    centred (or with a larger biasLr).

    >>> model = FMRegressor(factorSize=8).fit(df)                  # doctest: +SKIP
    """

    PREDICTOR = "regressor"

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "FMRegressor":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _model_class(self):
        return FMRegressionModel


@saved_as("sagespark.regression")
class FMRegressionModel(_FMModel):
    """prediction = y(x)."""

    def _transform(self, dataset: DataFrame) -> DataFrame:
        outputs = {self.getPredictionCol(): ("prediction", pa.float64())}
        return add_scores(dataset, self._fm_input(dataset), self._scorer(fm_prediction), outputs)
