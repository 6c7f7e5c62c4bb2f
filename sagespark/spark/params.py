"""Params shared by every sagespark Estimator/Model (beyond pyspark.ml.param.shared)."""

from __future__ import annotations

import zlib
from typing import Any, Callable

import numpy as np
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasHandleInvalid, HasWeightCol

from sagespark.spark.features import require_handle_invalid


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
