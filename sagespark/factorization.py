"""What FMClassifier (sagespark.classification) and FMRegressor (sagespark.regression)
share: the params, the epoch loop and the Model base. The algorithm lives in
sagespark.streaming.fm and sagespark.kernels.fm.

Params follow MLlib's FMClassifier/FMRegressor where the concept is the same
(factorSize, fitIntercept, fitLinear, regParam, initStd, maxIter, stepSize, solver,
seed) and add SageMaker's per-term hyperparameters (biasLr, linearLr, factorsLr,
biasWd, ..., factorsInitMethod, ...). A per-term param that is set wins; otherwise
MLlib's param, when set, applies to every term (stepSize: the learning rates, regParam:
the weight decays, initStd: the factors' initial standard deviation); otherwise the
per-term default applies.

A fit makes ``maxIter`` passes (default 1). Each pass folds the data into the state
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
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasLabelCol, HasPredictionCol, HasSeed
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sagespark.kernels import Features
from sagespark.kernels.fm import fm_scores
from sagespark.kernels.linear import OPTIMIZERS
from sagespark.spark.features import feature_spec
from sagespark.spark.fold import _has_rdd, fold_dataset
from sagespark.spark.onepass import EpochsModel, EpochsSummary, OnePassEstimator, PassResult, partition_start_state
from sagespark.spark.params import HasInputParams, auto_or_int, stable_default_seed
from sagespark.spark.progress import PhaseClock, pass_description
from sagespark.streaming.fm import FMConfig, FMSolution, FMState
from sagespark.udfs.arrow import FeatureSpec

AUTO = "auto"
TERMS = ("bias", "linear", "factors")
INIT_METHODS = ("normal", "uniform", "constant")
# per-term defaults (measured on the benchmark's click data, see docs/factorization_machines.md)
DEFAULT_LR = {"bias": 0.01, "linear": 0.003, "factors": 0.003}
DEFAULT_INIT = {"bias": ("constant", 0.0), "linear": ("constant", 0.0), "factors": ("normal", 0.05)}


def _param(name: str, doc: str, converter: Callable = TypeConverters.identity) -> Param:
    return Param(Params._dummy(), name, doc, typeConverter=converter)


def _term_params(term: str) -> dict[str, Param]:
    """SageMaker's per-term hyperparameters of one term (bias, linear or factors)."""
    return {
        f"{term}Lr": _param(f"{term}Lr", f"learning rate of the {term} term (>= 0; default "
                            f"{DEFAULT_LR[term]}, or stepSize when that is set)", TypeConverters.toFloat),
        f"{term}Wd": _param(f"{term}Wd", f"L2 weight decay of the {term} term (>= 0; default 0, or regParam when "
                            "that is set); applied to a parameter when a mini-batch touches it", TypeConverters.toFloat),
        f"{term}InitMethod": _param(f"{term}InitMethod", f"initial {term} values: 'normal' (sigma), 'uniform' "
                                    f"(+-scale) or 'constant' (value); default {DEFAULT_INIT[term][0]!r}",
                                    TypeConverters.toString),
        f"{term}InitSigma": _param(f"{term}InitSigma", f"standard deviation of the normal initial {term} values",
                                   TypeConverters.toFloat),
        f"{term}InitScale": _param(f"{term}InitScale", f"half-width of the uniform initial {term} values",
                                   TypeConverters.toFloat),
        f"{term}InitValue": _param(f"{term}InitValue", f"the constant initial {term} value", TypeConverters.toFloat),
    }  # fmt: skip


class _FMParams(HasInputParams, HasLabelCol, HasPredictionCol, HasSeed):
    factorSize = _param("factorSize", "dimension of the factors (> 0)", TypeConverters.toInt)
    fitIntercept = _param("fitIntercept", "learn the global bias w0", TypeConverters.toBoolean)
    fitLinear = _param("fitLinear", "learn the linear weights w", TypeConverters.toBoolean)
    regParam = _param("regParam", "L2 weight decay of every term (>= 0), unless biasWd / linearWd / factorsWd is set",
                      TypeConverters.toFloat)  # fmt: skip
    initStd = _param("initStd", "standard deviation of the initial factors, unless factorsInitSigma is set",
                     TypeConverters.toFloat)  # fmt: skip
    maxIter = _param("maxIter", "passes over the data (> 0); each pass starts from the last merged model",
                     TypeConverters.toInt)  # fmt: skip
    stepSize = _param("stepSize", "learning rate of every term (> 0), unless biasLr / linearLr / factorsLr is set",
                      TypeConverters.toFloat)  # fmt: skip
    solver = _param("solver", f"the optimizer: one of {OPTIMIZERS} ('sgd' with momentum)", TypeConverters.toString)
    miniBatchSize = _param("miniBatchSize", "rows per optimizer step (> 0)", TypeConverters.toInt)
    beta1 = _param("beta1", "adam's first-moment decay", TypeConverters.toFloat)
    beta2 = _param("beta2", "adam's second-moment decay, rmsprop's decay", TypeConverters.toFloat)
    momentum = _param("momentum", "sgd momentum", TypeConverters.toFloat)
    eps = _param("eps", "adam / rmsprop / adagrad denominator guard (> 0)", TypeConverters.toFloat)
    numLearners = _param("numLearners", "partitions trained side by side in a pass ('auto': Spark's default "
                         "parallelism; more input partitions are coalesced to this many)", auto_or_int)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            labelCol="label", predictionCol="prediction", factorSize=8, fitIntercept=True, fitLinear=True,
            maxIter=1, solver="adam", miniBatchSize=100, beta1=0.9, beta2=0.999, momentum=0.0, eps=1e-8,
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
        state = initial._state.for_partition(0) if initial is not None else self._start_state(spec)
        history, result, clock = [], None, PhaseClock()
        for index in range(passes):
            result = fold_dataset(rows, fields, spec, partial(partition_start_state, start=state.to_bytes()),
                                  state_bytes=8 * (3 * state.params.size + state.n_features),
                                  description=pass_description(self, index + 1, passes))  # fmt: skip
            clock.add(result.seconds)
            state = result.state
            state.epochs += 1
            history.append(state.progressive_loss())
        summary = EpochsSummary(result.rows, result.skipped, passes, clock.seconds, numEpochs=passes,
                                objectiveHistory=tuple(history))  # fmt: skip
        return PassResult(state, summary.continuing(initial.summary if initial is not None else None))

    def _learner_partitions(self, rows: DataFrame) -> DataFrame:
        """``rows`` coalesced to numLearners partitions when it has more."""
        value = self.getOrDefault(self.numLearners)
        if value == AUTO:
            if not _has_rdd(rows):  # Spark Connect: the partitioning is kept
                return rows
            learners = rows.sparkSession.sparkContext.defaultParallelism
        else:
            learners = int(value)
            if learners < 1:
                raise ValueError(f"numLearners must be 'auto' or > 0, got {value}")
        if _has_rdd(rows) and rows.rdd.getNumPartitions() <= learners:
            return rows
        return rows.coalesce(learners)

    def _config(self) -> FMConfig:
        fit = {"bias": self.getOrDefault(self.fitIntercept), "linear": self.getOrDefault(self.fitLinear),
               "factors": True}  # fmt: skip
        lr = {term: self._term_value(term, "Lr") if fit[term] else 0.0 for term in TERMS}
        wd = {term: self._term_value(term, "Wd") for term in TERMS}
        solver = self.getOrDefault(self.solver)
        beta1 = self.getOrDefault(self.momentum) if solver == "sgd" else self.getOrDefault(self.beta1)
        return FMConfig(
            predictor=self.PREDICTOR, factors=self.getOrDefault(self.factorSize), optimizer=solver,
            mini_batch_size=self.getOrDefault(self.miniBatchSize), beta1=beta1, beta2=self.getOrDefault(self.beta2),
            eps=self.getOrDefault(self.eps), bias_lr=lr["bias"], linear_lr=lr["linear"], factors_lr=lr["factors"],
            bias_wd=wd["bias"], linear_wd=wd["linear"], factors_wd=wd["factors"],
        )  # fmt: skip

    def _start_state(self, spec: FeatureSpec) -> FMState:
        """Fresh parameters drawn from the init params (seeded); a term that is not fit
        starts, and stays, at 0."""
        config = self._config()
        rng = np.random.default_rng(self.getSeed())
        bias = self._initial("bias", (), rng) if self.getOrDefault(self.fitIntercept) else 0.0
        d = spec.n_features
        linear = self._initial("linear", (d,), rng) if self.getOrDefault(self.fitLinear) else np.zeros(d)
        factors = self._initial("factors", (d, config.factors), rng)
        return FMState(config, float(bias), linear, factors)

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


class _FMModel(EpochsModel, _FMParams):
    """The trained factorization machine (MLlib's ``intercept``, ``linear``, ``factors``);
    keeps the state (parameters and optimizer moments) for incremental training. Its
    summary's objectiveHistory is each pass's progressive loss."""

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
        return partial(_score_batch, outputs=outputs, intercept=solution.intercept, params=params)


def _score_batch(x: Features, outputs: Callable, intercept: float, params: np.ndarray) -> dict[str, np.ndarray]:
    return outputs(fm_scores(x, intercept, params))
