"""QuantileDiscretizer: MLlib's stage on mergeable KLL sketches (one pass, or Spark
SQL's own KLL aggregate), public in sagespark.feature. ``finalize(numBuckets=...)``
re-buckets from the kept sketches; fitMultiple serves a numBuckets grid in one pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark import keyword_only
from pyspark.ml.feature import Bucketizer
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
from pyspark.sql import DataFrame

from sagespark.spark.jvm_states import sql_sketches
from sagespark.spark.onepass import FitSummary, OnePassEstimator, PassResult, StateModel, continued_state
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.progress import FOLD_PHASE, PhaseClock, job_description, pass_description
from sagespark.states.quantiles import k_for_rank_error


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


@saved_as("sagespark.feature", "sagespark.feature.summary_stages")
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


@saved_as("sagespark.feature", "sagespark.feature.summary_stages")
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
