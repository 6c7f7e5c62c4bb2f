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


def _accessor(prefix: str, name: str) -> str:
    return prefix + name[0].upper() + name[1:]


class HasAccessors(Params):
    """MLlib's accessors for every Param of a stage: ``set<Name>(value)`` (returns the
    stage, as MLlib's setters do) and ``get<Name>()``, generated when a concrete class
    is defined for each Param that has no hand-written one, so every stage (and every
    coming family) has them all."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            if name.startswith("_") or not isinstance(getattr(cls, name, None), Param):
                continue
            if not hasattr(cls, _accessor("set", name)):
                setattr(cls, _accessor("set", name), _setter(name))
            if not hasattr(cls, _accessor("get", name)):
                setattr(cls, _accessor("get", name), _getter(name))


def _setter(name: str) -> Callable:
    def setter(self: Params, value: Any) -> Params:
        return self._set(**{name: value})

    setter.__name__ = setter.__qualname__ = _accessor("set", name)
    setter.__doc__ = f"Sets the value of :py:attr:`{name}`."
    return setter


def _getter(name: str) -> Callable:
    def getter(self: Params) -> Any:
        return self.getOrDefault(name)

    getter.__name__ = getter.__qualname__ = _accessor("get", name)
    getter.__doc__ = f"Gets the value of :py:attr:`{name}` or its default value."
    return getter


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


class HasBuckets(Params):
    """The hashed n-grams' rows of the text stages (the classifier's word n-grams,
    word2vec's character n-grams)."""

    buckets: Param[int] = param("buckets", "rows the hashed n-grams share (word n-grams for the classifier, "
                                "character n-grams for word2vec's subwords), each vectorSize float32 in every "
                                "worker's copy of the model", TypeConverters.toInt)  # fmt: skip


class HasTrainingRounds(Params):
    """The params of the stages trained in rounds on every partition (word2vec, the text
    classifier; sagespark.states.rounds): the model's size, the vocabulary and the rounds."""

    vectorSize: Param[int] = param("vectorSize", "the dimension of the word vectors (SageMaker's vector_dim)",
                                   TypeConverters.toInt)  # fmt: skip
    minCount: Param[int] = param("minCount", "words occurring fewer times are left out of the vocabulary",
                                 TypeConverters.toInt)  # fmt: skip
    numPartitions: Param[int] = param("numPartitions", "partitions to train on (0: the input's); the input is "
                                      "repartitioned to this many and cached for the fit", TypeConverters.toInt)  # fmt: skip
    roundsPerEpoch: Param[str] = param("roundsPerEpoch", "training rounds per epoch, each one pass whose "
                                       "partitions' changes are merged ('auto': 4 per partition, 1 for one)",
                                       auto_or_int)  # fmt: skip
    roundMerge: Param[str] = param("roundMerge", "how a round's partition changes to a row combine: 'saturating' "
                                   "(the sum for rows few steps changed, the mean for rows many did), 'average' "
                                   "or 'sum'", TypeConverters.toString)  # fmt: skip
    maxVocabularySize: Param[int] = param("maxVocabularySize", "0: count every word exactly; m > 0: count with a "
                                          "Misra-Gries summary of m words (fixed memory per worker)",
                                          TypeConverters.toInt)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(vectorSize=100, minCount=5, numPartitions=0, roundsPerEpoch="auto", roundMerge="saturating",
                         maxVocabularySize=0)  # fmt: skip

    def _rounds_config(self) -> dict[str, Any]:
        """The shared fields of the states' configs (sagespark.states.rounds)."""
        rounds = self.getOrDefault(self.roundsPerEpoch)
        if rounds != "auto" and (not rounds.isdigit() or int(rounds) < 1):
            raise ValueError(f"roundsPerEpoch must be 'auto' or an integer >= 1, got {rounds!r}")
        return {"vector_size": self.getOrDefault(self.vectorSize), "min_count": float(self.getOrDefault(self.minCount)),
                "max_vocabulary": self.getOrDefault(self.maxVocabularySize), "epochs": self.getOrDefault("maxIter"),
                "rounds": 0 if rounds == "auto" else int(rounds), "step_size": self.getOrDefault("stepSize"),
                "seed": self.getOrDefault("seed") % (1 << 63), "merge_rule": self.getOrDefault(self.roundMerge),
                "rows_by_round": True}  # fmt: skip
