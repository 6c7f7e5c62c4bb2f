"""The scalers: StandardScaler (mergeable Moments) and RobustScaler (KLL sketches),
public in sagespark.feature.

Params and outputs follow MLlib's stages of the same names. Beyond MLlib: ``featuresCols``
(numeric columns used as one vector), incremental fit (``setInitialModel``), the state
on the model, ``finalize`` for the params the state serves (withMean/withStd;
lower/upper/withCentering/withScaling) and fitMultiple in one pass.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
from pyspark import keyword_only
from pyspark.ml.linalg import DenseVector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasRelativeError
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import DataFrame

from sagespark.spark.jvm_states import summarizer_moments
from sagespark.spark.onepass import OnePassEstimator, StateModel
from sagespark.spark.params import HasVectorInput
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.scoring import add_scores
from sagespark.states import Moments, QuantileSketches
from sagespark.states.base import new_state
from sagespark.states.moments import affine_scores
from sagespark.states.quantiles import k_for_rank_error
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec


def _inverse_or_zero(values: np.ndarray) -> np.ndarray:
    """1 / v, and 0 where v is 0 (MLlib's scalers map a constant feature to 0)."""
    return np.divide(1.0, values, out=np.zeros_like(values), where=values != 0)


class _ScalerModel(StateModel, HasVectorInput):
    def _shift_and_scale(self) -> tuple[np.ndarray | None, np.ndarray]:
        raise NotImplementedError

    @property
    def numFeatures(self) -> int:
        return self._state.n_features

    def _transform(self, dataset: DataFrame) -> DataFrame:
        if not self.isDefined(self.outputCol):
            raise ValueError("outputCol is not set")
        shift, scale = self._shift_and_scale()
        columns_and_spec = self._vector_input(dataset, self.numFeatures)
        scorer = partial(affine_scores, shift=shift, scale=scale)
        return add_scores(dataset, columns_and_spec, scorer, {self.getOutputCol(): ("scaled", VECTOR_ARROW_TYPE)})


# ----------------------------------------------------------------- StandardScaler
class _StandardScalerParams(HasVectorInput):
    withMean: Param[bool] = Param(
        Params._dummy(), "withMean", "center the data with the mean before scaling (densifies sparse input)",
        TypeConverters.toBoolean,
    )  # fmt: skip
    withStd: Param[bool] = Param(
        Params._dummy(), "withStd", "scale the data to unit (sample) standard deviation", TypeConverters.toBoolean
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(withMean=False, withStd=True)

    def getWithMean(self) -> bool:
        return self.getOrDefault(self.withMean)

    def getWithStd(self) -> bool:
        return self.getOrDefault(self.withStd)


_SCALER_FINALIZE = frozenset({"withMean", "withStd", "outputCol"})


@saved_as("sagespark.feature", "sagespark.feature.summary_stages")
class StandardScaler(OnePassEstimator, _StandardScalerParams, DefaultParamsReadable, ParamsWritable):
    """MLlib's StandardScaler in one pass over mergeable Moments: the mean and the
    unbiased standard deviation per feature (Chan's merge). withMean/withStd are
    finalize-time: one pass serves both settings."""

    FINALIZE_PARAMS = _SCALER_FINALIZE

    @keyword_only
    def __init__(
        self, *, withMean: bool = False, withStd: bool = True, inputCol: str = "features",
        outputCol: str | None = None, featuresCols: Sequence[str] | None = None, handleInvalid: str = "error",
    ) -> None:  # fmt: skip
        super().__init__()
        self._setDefault(outputCol=self.uid + "__output")
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "StandardScaler":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _input(self, dataset, n_features):
        return self._vector_input(dataset, n_features)

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], Moments]:
        return partial(new_state, kind=Moments.kind)

    def _model_class(self):
        return StandardScalerModel

    def _jvm_state(self, dataset: DataFrame, spec: FeatureSpec) -> Moments | None:
        """MLlib's Summarizer computes the Moments in the JVM, faster than shipping the
        rows to Python; invalid rows leave it to the Python pass."""
        return summarizer_moments(dataset, self.getInputCol(), self.getFeaturesCols(), spec.n_features)


@saved_as("sagespark.feature", "sagespark.feature.summary_stages")
class StandardScalerModel(_ScalerModel, _StandardScalerParams):
    FINALIZE_PARAMS = _SCALER_FINALIZE

    @property
    def mean(self) -> DenseVector:
        return DenseVector(self._state.finalize().mean)

    @property
    def std(self) -> DenseVector:
        return DenseVector(self._state.finalize().std)

    def _shift_and_scale(self):
        moments = self._state.finalize()
        scale = _inverse_or_zero(moments.std) if self.getWithStd() else np.ones(self.numFeatures)
        return (moments.mean if self.getWithMean() else None), scale


# ------------------------------------------------------------------- RobustScaler
class _RobustScalerParams(HasVectorInput, HasRelativeError):
    lower: Param[float] = Param(
        Params._dummy(), "lower", "lower quantile of the range, in [0, 1)", TypeConverters.toFloat
    )
    upper: Param[float] = Param(
        Params._dummy(), "upper", "upper quantile of the range, in (0, 1]", TypeConverters.toFloat
    )
    withCentering: Param[bool] = Param(
        Params._dummy(), "withCentering", "subtract the median before scaling", TypeConverters.toBoolean
    )
    withScaling: Param[bool] = Param(
        Params._dummy(), "withScaling", "divide by the quantile range", TypeConverters.toBoolean
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(lower=0.25, upper=0.75, withCentering=False, withScaling=True, relativeError=0.001)

    def getLower(self) -> float:
        return self.getOrDefault(self.lower)

    def getUpper(self) -> float:
        return self.getOrDefault(self.upper)

    def getWithCentering(self) -> bool:
        return self.getOrDefault(self.withCentering)

    def getWithScaling(self) -> bool:
        return self.getOrDefault(self.withScaling)

    def _check_quantiles(self) -> None:
        if not 0.0 <= self.getLower() < self.getUpper() <= 1.0:
            raise ValueError(f"need 0 <= lower < upper <= 1, got lower={self.getLower()}, upper={self.getUpper()}")


_ROBUST_FINALIZE = frozenset({"lower", "upper", "withCentering", "withScaling", "outputCol"})


@saved_as("sagespark.feature", "sagespark.feature.summary_stages")
class RobustScaler(OnePassEstimator, _RobustScalerParams, DefaultParamsReadable, ParamsWritable):
    """MLlib's RobustScaler in one pass: one KLL sketch per feature (k chosen so the
    a-priori rank error is <= relativeError), then median and upper - lower quantile
    range. Any lower/upper/withCentering/withScaling is served by the same sketches."""

    FINALIZE_PARAMS = _ROBUST_FINALIZE

    @keyword_only
    def __init__(
        self, *, lower: float = 0.25, upper: float = 0.75, withCentering: bool = False, withScaling: bool = True,
        inputCol: str = "features", outputCol: str | None = None, relativeError: float = 0.001,
        featuresCols: Sequence[str] | None = None, handleInvalid: str = "error",
    ) -> None:  # fmt: skip
        super().__init__()
        self._setDefault(outputCol=self.uid + "__output")
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "RobustScaler":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _input(self, dataset, n_features):
        self._check_quantiles()
        return self._vector_input(dataset, n_features)

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], QuantileSketches]:
        return partial(new_state, kind=QuantileSketches.kind, k=k_for_rank_error(self.getRelativeError()))

    def _model_class(self):
        return RobustScalerModel


@saved_as("sagespark.feature", "sagespark.feature.summary_stages")
class RobustScalerModel(_ScalerModel, _RobustScalerParams):
    FINALIZE_PARAMS = _ROBUST_FINALIZE

    def _quantiles(self) -> np.ndarray:
        self._check_quantiles()
        return self._state.finalize([self.getLower(), 0.5, self.getUpper()])

    @property
    def median(self) -> DenseVector:
        return DenseVector(self._quantiles()[:, 1])

    @property
    def range(self) -> DenseVector:
        q = self._quantiles()
        return DenseVector(q[:, 2] - q[:, 0])

    def _shift_and_scale(self):
        q = self._quantiles()
        scale = _inverse_or_zero(q[:, 2] - q[:, 0]) if self.getWithScaling() else np.ones(self.numFeatures)
        return (q[:, 1] if self.getWithCentering() else None), scale
