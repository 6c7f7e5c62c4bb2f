"""One-pass feature stages whose Models keep a mergeable state: StandardScaler
(Moments), RobustScaler and QuantileDiscretizer (KLL sketches).

Params and outputs follow MLlib's stages of the same names. Beyond MLlib: ``featuresCols``
(numeric columns used as one vector), incremental fit (``setInitialModel``), the state
on the model, ``finalize`` for the params the state serves (withMean/withStd;
lower/upper/withCentering/withScaling; numBuckets) and fitMultiple in one pass.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
from pyspark import keyword_only
from pyspark.ml.feature import Bucketizer
from pyspark.ml.linalg import DenseVector
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import (
    HasHandleInvalid,
    HasInputCol,
    HasInputCols,
    HasOutputCol,
    HasOutputCols,
    HasRelativeError,
)
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame

from sagespark.kernels import CSRMatrix, Features
from sagespark.spark.features import feature_spec, require_handle_invalid
from sagespark.spark.jvm_states import sql_sketches, summarizer_moments
from sagespark.spark.onepass import FitSummary, OnePassEstimator, PassResult, StateModel, continued_state
from sagespark.spark.params import HasFeaturesCols
from sagespark.spark.persistence import ParamsWritable
from sagespark.spark.progress import FOLD_PHASE, PhaseClock, job_description, pass_description
from sagespark.spark.scoring import add_scores
from sagespark.states import Moments, QuantileSketches
from sagespark.states.base import new_state
from sagespark.states.quantiles import k_for_rank_error
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec


class _VectorInputParams(HasInputCol, HasOutputCol, HasFeaturesCols, HasHandleInvalid):
    """inputCol (a vector or numeric-array column) or featuresCols (numeric columns),
    an outputCol vector, and handleInvalid ('error' or 'skip': skipped rows are not
    fitted and get a null output)."""

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(inputCol="features", featuresCols=[], handleInvalid="error")

    def _vector_input(self, dataset: DataFrame, n_features: int | None) -> tuple[list[Column], FeatureSpec]:
        return feature_spec(
            dataset, self.getInputCol(), self.getFeaturesCols(), self._weight_column(),
            require_handle_invalid(self.getHandleInvalid()), n_features,
        )  # fmt: skip

    def _weight_column(self) -> str | None:
        """The row-weight column, for stages that take one."""
        return None

    def getFeaturesCol(self) -> str:
        """Alias of inputCol, so the stage reads like sagespark's other stages."""
        return self.getInputCol()


def _affine_scorer(x: Features, shift: np.ndarray | None, scale: np.ndarray) -> dict[str, Features]:
    """(x - shift) * scale per row; CSR rows stay sparse when there is no shift."""
    if isinstance(x, CSRMatrix):
        if shift is None:
            return {"scaled": CSRMatrix(x.indptr, x.indices, x.data * scale[x.indices], x.n_cols)}
        x = x.to_dense()
    return {"scaled": (x - shift) * scale if shift is not None else x * scale}


def _inverse_or_zero(values: np.ndarray) -> np.ndarray:
    """1 / v, and 0 where v is 0 (MLlib's scalers map a constant feature to 0)."""
    return np.divide(1.0, values, out=np.zeros_like(values), where=values != 0)


class _ScalerModel(StateModel, _VectorInputParams):
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
        scorer = partial(_affine_scorer, shift=shift, scale=scale)
        return add_scores(dataset, columns_and_spec, scorer, {self.getOutputCol(): ("scaled", VECTOR_ARROW_TYPE)})


# ----------------------------------------------------------------- StandardScaler
class _StandardScalerParams(_VectorInputParams):
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
class _RobustScalerParams(_VectorInputParams, HasRelativeError):
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


# ------------------------------------------------------------ QuantileDiscretizer
class _QuantileDiscretizerParams(HasInputCol, HasOutputCol, HasInputCols, HasOutputCols, HasRelativeError,
                                 HasHandleInvalid):  # fmt: skip
    numBuckets: Param[int] = Param(
        Params._dummy(), "numBuckets", "number of buckets (quantiles) per column, >= 2", TypeConverters.toInt
    )
    numBucketsArray: Param[list[int]] = Param(
        Params._dummy(), "numBucketsArray", "number of buckets per column of inputCols",
        TypeConverters.toListInt,
    )  # fmt: skip
    handleInvalid: Param[str] = Param(
        Params._dummy(), "handleInvalid",
        "NaN at transform: 'error' raises, 'skip' drops the row, 'keep' puts it in an extra bucket "
        "(NaN and null are ignored by fit, as in MLlib)",
        TypeConverters.toString,
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(numBuckets=2, relativeError=0.001, handleInvalid="error")

    def getNumBuckets(self) -> int:
        return self.getOrDefault(self.numBuckets)

    def getNumBucketsArray(self) -> list[int]:
        return self.getOrDefault(self.numBucketsArray)

    def _columns(self) -> tuple[list[str], list[str], list[int]]:
        """(input columns, output columns, buckets per column), single- or multi-column."""
        if self.isSet(self.inputCols):
            inputs, outputs = self.getInputCols(), self.getOutputCols() if self.isSet(self.outputCols) else []
            if len(outputs) != len(inputs):
                raise ValueError(f"outputCols must name one column per inputCol: {len(inputs)} vs {len(outputs)}")
            buckets = self.getNumBucketsArray() if self.isSet(self.numBucketsArray) else [self.getNumBuckets()] * len(inputs)
            if len(buckets) != len(inputs):
                raise ValueError(f"numBucketsArray has {len(buckets)} entries for {len(inputs)} inputCols")
        else:
            if not self.isSet(self.inputCol):
                raise ValueError("set inputCol (with outputCol) or inputCols (with outputCols)")
            inputs, outputs, buckets = [self.getInputCol()], [self.getOutputCol()], [self.getNumBuckets()]
        if min(buckets) < 2:
            raise ValueError(f"numBuckets must be >= 2, got {min(buckets)}")
        return inputs, outputs, buckets


class QuantileDiscretizer(
    OnePassEstimator, _QuantileDiscretizerParams, DefaultParamsReadable, ParamsWritable
):
    """MLlib's QuantileDiscretizer: splits at the i/numBuckets quantiles of each column
    (first and last split -inf and +inf, duplicates removed), from KLL sketches built by
    Spark SQL's native ``kll_sketch_agg_double`` in one aggregation over all columns.
    The model keeps the sketches (numBuckets is finalize-time) and transforms with MLlib's
    Bucketizer, so bucket boundaries and handleInvalid behave exactly as MLlib's."""

    FINALIZE_PARAMS = frozenset({"numBuckets", "numBucketsArray", "handleInvalid", "outputCol", "outputCols"})

    @keyword_only
    def __init__(
        self, *, numBuckets: int = 2, inputCol: str | None = None, outputCol: str | None = None,
        relativeError: float = 0.001, handleInvalid: str = "error", numBucketsArray: list[int] | None = None,
        inputCols: list[str] | None = None, outputCols: list[str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "QuantileDiscretizer":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _fit_pass(self, dataset: DataFrame) -> PassResult:
        inputs, _, _ = self._columns()
        clock = PhaseClock()
        with clock.phase(FOLD_PHASE), job_description(dataset, pass_description(self, 1, 1)):
            state, rows = sql_sketches(dataset, inputs, k_for_rank_error(self.getRelativeError()))
        initial = self._initial_model
        state = continued_state(state, initial, clock)
        summary = FitSummary(rows, 0, 1, clock.seconds)
        return PassResult(state, summary.continuing(initial.summary if initial is not None else None))

    def _model_class(self):
        return QuantileDiscretizerModel


class QuantileDiscretizerModel(StateModel, _QuantileDiscretizerParams):
    FINALIZE_PARAMS = QuantileDiscretizer.FINALIZE_PARAMS

    @property
    def numFeatures(self) -> int:
        return self._state.n_features

    def getSplitsArray(self) -> list[list[float]]:
        """MLlib's splits per input column."""
        _, _, buckets = self._columns()
        if len(buckets) != self._state.n_features:
            raise ValueError(f"the model was fitted on {self._state.n_features} columns, not {len(buckets)}")
        return [_splits(sketch_quantiles, b) for sketch_quantiles, b in zip(self._per_column(buckets), buckets)]

    def getSplits(self) -> list[float]:
        return self.getSplitsArray()[0]

    def _per_column(self, buckets: list[int]) -> list[np.ndarray]:
        return [self._state.finalize(np.arange(b + 1) / b)[j] for j, b in enumerate(buckets)]

    def _transform(self, dataset: DataFrame) -> DataFrame:
        inputs, outputs, _ = self._columns()
        bucketizer = Bucketizer(splitsArray=self.getSplitsArray(), inputCols=inputs, outputCols=outputs,
                                handleInvalid=self.getHandleInvalid())  # fmt: skip
        return bucketizer.transform(dataset)


def _splits(quantiles: np.ndarray, buckets: int) -> list[float]:
    """MLlib's getDistinctSplits: ends at -inf/+inf, -0.0 as 0.0, distinct, sorted."""
    splits = np.array(quantiles, dtype=np.float64)
    if np.isnan(splits).any():
        raise ValueError("a column had no non-NaN values to fit")
    splits[0], splits[-1] = -np.inf, np.inf
    splits[splits == 0] = 0.0
    return [float(s) for s in np.unique(splits)]
