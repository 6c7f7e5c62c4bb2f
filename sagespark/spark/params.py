"""Params shared by every sagespark Estimator/Model (beyond pyspark.ml.param.shared)."""

from __future__ import annotations

import zlib
from typing import Any, Callable

import numpy as np
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasHandleInvalid, HasInputCol, HasOutputCol, HasWeightCol
from pyspark.sql import Column, DataFrame

from sagespark.spark.features import feature_spec, require_handle_invalid
from sagespark.udfs.arrow import FeatureSpec


def param(name: str, doc: str, converter: Callable = TypeConverters.identity) -> Param:
    """A family's own Param (declared on the class, as pyspark.ml's shared params are)."""
    return Param(Params._dummy(), name, doc, typeConverter=converter)


class HasFeaturesCols(Params):
    featuresCols: Param[list[str]] = Param(
        Params._dummy(),
        "featuresCols",
        "numeric feature columns, used instead of featuresCol when set",
        typeConverter=TypeConverters.toListString,
    )

    def getFeaturesCols(self) -> list[str]:
        return self.getOrDefault(self.featuresCols)


class HasMiniBatchSize(Params):
    miniBatchSize: Param[int] = Param(
        Params._dummy(),
        "miniBatchSize",
        "rows per state update inside a partition (> 0)",
        typeConverter=TypeConverters.toInt,
    )

    def getMiniBatchSize(self) -> int:
        return self.getOrDefault(self.miniBatchSize)


class HasInputParams(HasFeaturesCol, HasFeaturesCols, HasWeightCol, HasHandleInvalid):
    """featuresCol / featuresCols / weightCol / handleInvalid with their defaults,
    and the checks every algorithm applies before a pass."""

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(featuresCol="features", featuresCols=[], handleInvalid="error")

    def _input_settings(self) -> tuple[str, list[str], str | None, str]:
        handle_invalid = require_handle_invalid(self.getHandleInvalid())
        weight = self.getWeightCol() if self.isDefined(self.weightCol) else None
        return self.getFeaturesCol(), self.getFeaturesCols(), weight or None, handle_invalid


def auto_or_int(value: Any) -> str:
    """Type converter for params that take 'auto' or an integer: an int (or integral
    float) is kept as its decimal string, so ``localLloydNumTrials=20`` works as
    ``localLloydNumTrials='20'`` does; range checks happen where the value is used."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise TypeError(f"expected 'auto' or an integer, got {value!r}")


def stable_default_seed(params: Params) -> int:
    """A default seed fixed per class name. pyspark's HasSeed defaults to
    hash(class name), which Python randomizes per process (PYTHONHASHSEED), so default
    fits would differ between runs."""
    return zlib.crc32(type(params).__name__.encode())


class HasVectorInput(HasInputCol, HasOutputCol, HasFeaturesCols, HasHandleInvalid):
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
