"""Regressors: LinearLearnerRegressor (SageMaker's linear learner, and an exact ridge
solver), FMRegressor (factorization machines) and KNNRegressor (k-nearest neighbours,
see sagespark.neighbors), with MLlib's ``prediction`` output."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.linalg import DenseVector
from pyspark.ml.param import TypeConverters
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import DataFrame

from sagespark.factorization import _FMEstimator, _FMModel
from sagespark.kernels import Features
from sagespark.linear_learner import (
    _LinearLearnerEstimator,
    _LinearLearnerModel,
    _LinearLearnerParams,
    linear_scores,
    packed_model_rows,
)
from sagespark.neighbors import _KNNEstimator, _KNNModel, _KNNParams
from sagespark.spark.params import param
from sagespark.spark.persistence import ParamsWritable
from sagespark.spark.scoring import add_scores
from sagespark.states.base import AUTO
from sagespark.states.linear import ExactLeastSquares, LinearSolution

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
        scorer = partial(_regress, coefficients=solution.coefficients, intercept=solution.intercept)
        return add_scores(dataset, self._linear_input(dataset), scorer, {self.getPredictionCol(): ("prediction", pa.float64())})


def _regress(x: Features, coefficients: np.ndarray, intercept: float) -> dict[str, np.ndarray]:
    return {"prediction": linear_scores(x, coefficients[None, :], np.array([intercept]))[:, 0]}


class FMRegressor(_FMEstimator, DefaultParamsReadable, ParamsWritable):
    """Factorization machine for regression (squared loss), trained in one pass
    (``maxIter`` passes) of mini-batch Adam over sparse or dense rows. MLlib's param
    names where the concept is the same, SageMaker's per-term hyperparameters besides
    (see sagespark.factorization). Labels are not rescaled: with the default step sizes
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


class FMRegressionModel(_FMModel):
    """prediction = y(x)."""

    def _transform(self, dataset: DataFrame) -> DataFrame:
        outputs = {self.getPredictionCol(): ("prediction", pa.float64())}
        return add_scores(dataset, self._fm_input(dataset), self._scorer(_fm_prediction), outputs)


def _fm_prediction(s: np.ndarray) -> dict[str, np.ndarray]:
    return {"prediction": s}


class _KNNRegressorParams(_KNNParams):
    PREDICTOR = "regressor"


class KNNRegressor(_KNNEstimator, _KNNRegressorParams, DefaultParamsReadable, ParamsWritable):
    """k-nearest-neighbour regression (SageMaker's k-NN, predictor_type 'regressor'):
    one pass keeps a weighted reservoir sample of ``sampleSize`` labelled rows; the
    index (flat or ivf, optionally projected) is built from it and every query is
    predicted as the mean label of its k nearest sampled rows.

    >>> model = KNNRegressor(k=10, sampleSize=200_000).fit(df)     # doctest: +SKIP
    """

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "KNNRegressor":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _model_class(self):
        return KNNRegressionModel


class KNNRegressionModel(_KNNModel, _KNNRegressorParams):
    """prediction: the mean label of the k neighbours (unweighted, as scikit-learn's
    KNeighborsRegressor with uniform weights). ``verbose`` adds their distances and
    labels."""

    def _outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        return {self.getPredictionCol(): ("prediction", pa.float64())}

    def _predict(self):
        return _knn_mean


def _knn_mean(distances: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    return {"prediction": labels.mean(axis=1)}
