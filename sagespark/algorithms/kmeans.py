"""k-means: one-pass and mergeable (KMeans / KMeansModel, public in sagespark.clustering).

``KMeans`` folds every partition into a :class:`~sagespark.states.KMeansState`
(a bounded core set of weighted centers), merges the partition states as a tree, and
finalizes k centers on the driver with weighted k-means++ and Lloyd on the state alone.
The model keeps the state, so ``model.finalize(k=...)`` gives other k without touching
the data, ``fitMultiple`` serves a whole grid over k from one pass, and
``KMeans().setInitialModel(model).fit(new_data)`` continues training.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasAggregationDepth, HasDistanceMeasure, HasPredictionCol, HasSeed
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame

from sagespark.spark.features import feature_spec
from sagespark.spark.fold import sum_dataset
from sagespark.spark.onepass import FitSummary, OnePassEstimator, StateModel
from sagespark.spark.params import HasInputParams, HasMiniBatchSize, auto_or_int, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.scoring import add_scores
from sagespark.states.base import new_state
from sagespark.states.kmeans import INIT_METHODS, KMeansSolution, KMeansState, kmeans_cost_sums, kmeans_scores
from sagespark.udfs.arrow import FeatureSpec

__all__ = ["KMeans", "KMeansModel", "KMeansSummary", "KMeansCost"]

# Params that only finalize or scoring read: paramMaps differing only in these share a pass.
FINALIZE_PARAMS = frozenset(
    {"k", "localLloydMaxIter", "localLloydTol", "localLloydInitMethod", "localLloydNumTrials",
     "predictionCol", "distanceCol"}
)  # fmt: skip


class _KMeansParams(
    HasInputParams, HasPredictionCol, HasSeed, HasAggregationDepth, HasDistanceMeasure, HasMiniBatchSize
):
    k: Param[int] = Param(Params._dummy(), "k", "number of clusters (> 0)", TypeConverters.toInt)
    distanceMeasure: Param[str] = Param(
        Params._dummy(), "distanceMeasure", "the distance measure: only 'euclidean' (MLlib's 'cosine' is refused)",
        TypeConverters.toString,
    )  # fmt: skip
    extraCenterFactor: Param[str] = Param(
        Params._dummy(),
        "extraCenterFactor",
        "the state keeps up to k x extraCenterFactor weighted centers: 'auto' or an integer >= 1",
        auto_or_int,
    )
    initMethod: Param[str] = Param(
        Params._dummy(), "initMethod", "first centers of a partition: 'random' or 'kmeans++'",
        TypeConverters.toString,
    )  # fmt: skip
    localLloydMaxIter: Param[int] = Param(
        Params._dummy(), "localLloydMaxIter", "max Lloyd iterations in finalize", TypeConverters.toInt
    )
    localLloydTol: Param[float] = Param(
        Params._dummy(), "localLloydTol", "relative cost change that stops Lloyd in finalize",
        TypeConverters.toFloat,
    )  # fmt: skip
    localLloydInitMethod: Param[str] = Param(
        Params._dummy(), "localLloydInitMethod", "seeding in finalize: 'random' or 'kmeans++'",
        TypeConverters.toString,
    )  # fmt: skip
    localLloydNumTrials: Param[str] = Param(
        Params._dummy(), "localLloydNumTrials",
        "finalize runs this many seeded Lloyd trials and keeps the cheapest: 'auto' or an integer >= 1",
        auto_or_int,
    )  # fmt: skip
    halfLifeTimeSize: Param[int] = Param(
        Params._dummy(), "halfLifeTimeSize",
        "weight of old data halves after this many new rows (0 = no decay)", TypeConverters.toInt,
    )  # fmt: skip
    epochs: Param[int] = Param(
        Params._dummy(), "epochs", "passes over the data (1 = one pass)", TypeConverters.toInt
    )
    distanceCol: Param[str] = Param(
        Params._dummy(), "distanceCol",
        "optional output column: Euclidean distance to the assigned center", TypeConverters.toString,
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            k=2, extraCenterFactor="auto", initMethod="random", localLloydMaxIter=300,
            localLloydTol=1e-4, localLloydInitMethod="kmeans++", localLloydNumTrials="auto",
            halfLifeTimeSize=0, epochs=1, miniBatchSize=5000, distanceMeasure="euclidean",
            seed=stable_default_seed(self),
        )  # fmt: skip

    def getK(self) -> int:
        return self.getOrDefault(self.k)

    def getExtraCenterFactor(self) -> str:
        return self.getOrDefault(self.extraCenterFactor)

    def getInitMethod(self) -> str:
        return self.getOrDefault(self.initMethod)

    def getLocalLloydMaxIter(self) -> int:
        return self.getOrDefault(self.localLloydMaxIter)

    def getLocalLloydTol(self) -> float:
        return self.getOrDefault(self.localLloydTol)

    def getLocalLloydInitMethod(self) -> str:
        return self.getOrDefault(self.localLloydInitMethod)

    def getLocalLloydNumTrials(self) -> str:
        return self.getOrDefault(self.localLloydNumTrials)

    def getHalfLifeTimeSize(self) -> int:
        return self.getOrDefault(self.halfLifeTimeSize)

    def getEpochs(self) -> int:
        return self.getOrDefault(self.epochs)

    def getDistanceCol(self) -> str | None:
        return self.getOrDefault(self.distanceCol) if self.isDefined(self.distanceCol) else None

    def _check_distance_measure(self) -> None:
        if self.getDistanceMeasure() != "euclidean":
            raise ValueError(
                f"distanceMeasure {self.getDistanceMeasure()!r} is not supported; use 'euclidean'"
            )

    def _finalize_state(self, state: KMeansState) -> KMeansSolution:
        return state.finalize(
            self.getK(),
            init_method=self.getLocalLloydInitMethod(),
            max_iter=self.getLocalLloydMaxIter(),
            tol=self.getLocalLloydTol(),
            num_trials=self.getLocalLloydNumTrials(),
            seed=self.getSeed(),
        )


@dataclass(frozen=True, kw_only=True)
class KMeansSummary(FitSummary):
    """Training summary: the FitSummary (rows, passes, seconds per phase) and the
    clustering. ``clusterWeights`` and ``trainingCost`` are computed from the state's
    weighted centers (no extra pass): the weight each final center represents, and the
    weighted cost of the state's centers around the final ones."""

    k: int
    totalWeight: float
    clusterWeights: list[float]
    trainingCost: float
    numStateCenters: int


@dataclass(frozen=True)
class KMeansCost:
    """SageMaker's k-means metrics over a dataset: ssd = sum of (weighted) squared
    distances to the nearest center, msd = ssd / total weight."""

    ssd: float
    msd: float
    totalWeight: float


@saved_as("sagespark.clustering")
class KMeans(OnePassEstimator, _KMeansParams, DefaultParamsReadable, ParamsWritable):
    """One-pass, mergeable k-means (SageMaker's algorithm) as a Spark ML Estimator.

    >>> model = KMeans(k=3, seed=1).fit(df)          # doctest: +SKIP
    >>> model.clusterCenters()                         # doctest: +SKIP
    """

    FINALIZE_PARAMS = FINALIZE_PARAMS

    @keyword_only
    def __init__(
        self, *, k: int = 2, featuresCol: str = "features", featuresCols: Sequence[str] | None = None,
        predictionCol: str = "prediction", weightCol: str | None = None, seed: int | None = None,
        extraCenterFactor: str | int = "auto", miniBatchSize: int = 5000, initMethod: str = "random",
        localLloydMaxIter: int = 300, localLloydTol: float = 1e-4, localLloydInitMethod: str = "kmeans++",
        localLloydNumTrials: str | int = "auto", halfLifeTimeSize: int = 0, epochs: int = 1,
        handleInvalid: str = "error", aggregationDepth: int = 2, distanceMeasure: str = "euclidean",
        distanceCol: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "KMeans":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def setK(self, value: int) -> "KMeans":
        return self._set(k=value)

    def setSeed(self, value: int) -> "KMeans":
        return self._set(seed=value)

    def setFeaturesCol(self, value: str) -> "KMeans":
        return self._set(featuresCol=value)

    def setFeaturesCols(self, value: Sequence[str]) -> "KMeans":
        return self._set(featuresCols=list(value))

    def setPredictionCol(self, value: str) -> "KMeans":
        return self._set(predictionCol=value)

    def setWeightCol(self, value: str) -> "KMeans":
        return self._set(weightCol=value)

    def setHandleInvalid(self, value: str) -> "KMeans":
        return self._set(handleInvalid=value)

    # the skeleton's hooks (sagespark.spark.onepass) ------------------------------
    def _input(self, dataset: DataFrame, n_features: int | None) -> tuple[list[Column], FeatureSpec]:
        self._check_distance_measure()
        if self.getInitMethod() not in INIT_METHODS:
            raise ValueError(f"initMethod must be one of {INIT_METHODS}, got {self.getInitMethod()!r}")
        if self.getEpochs() < 1:
            raise ValueError(f"epochs must be >= 1, got {self.getEpochs()}")
        features_col, features_cols, weight_col, handle_invalid = self._input_settings()
        return feature_spec(dataset, features_col, features_cols, weight_col, handle_invalid, n_features=n_features)

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], KMeansState]:
        return partial(
            new_state, kind=KMeansState.kind, k=self.getK(), extra_center_factor=self.getExtraCenterFactor(),
            mini_batch_size=self.getMiniBatchSize(), init_method=self.getInitMethod(),
            half_life_time_size=self.getHalfLifeTimeSize(), seed=self.getSeed(),
        )  # fmt: skip

    def _num_passes(self) -> int:
        return self.getEpochs()

    def _shared_pass_estimator(self, estimators: list["KMeans"]) -> "KMeans":
        """A grid over k shares one pass whose state is sized for its largest k."""
        return max(estimators, key=lambda estimator: estimator.getK())

    def _model_class(self) -> type["KMeansModel"]:
        return KMeansModel


@saved_as("sagespark.clustering")
class KMeansModel(StateModel, _KMeansParams):
    """Fitted k-means: k centers plus the state they were finalized from."""

    def _describe(self) -> dict[str, Any]:
        return {"k": len(self._solution.centers), "stateCenters": int((self._state.weights > 0).sum())}

    FINALIZE_PARAMS = FINALIZE_PARAMS

    def _finalized(self) -> "KMeansModel":
        self._solution  # finalize now, as fit reports the finalize phase
        return self

    @property
    def _solution(self) -> KMeansSolution:
        return self._finalize_cached(self._solution_key(), lambda: self._finalize_state(self._state))

    def _solution_key(self) -> tuple:
        return tuple(self.getOrDefault(name) for name in _SOLUTION_PARAMS)

    # ------------------------------------------------------------- inspection
    def clusterCenters(self) -> list[np.ndarray]:
        """The k centers, as MLlib's KMeansModel returns them."""
        return [center.copy() for center in self._solution.centers]

    @property
    def numFeatures(self) -> int:
        return self._state.n_features

    @property
    def hasSummary(self) -> bool:
        return True

    @property
    def summary(self) -> KMeansSummary:
        solution = self._solution
        return KMeansSummary(
            **vars(self._summary),
            k=len(solution.centers),
            totalWeight=float(self._state.weights.sum()),
            clusterWeights=[float(w) for w in solution.weights],
            trainingCost=float(solution.cost),
            numStateCenters=int((self._state.weights > 0).sum()),
        )

    def finalize(self, k: int | None = None, **params: Any) -> "KMeansModel":
        """A new model from the kept state with other finalize-time params (k,
        localLloydMaxIter, localLloydTol, localLloydInitMethod, localLloydNumTrials);
        no data is read. k may go up to the state's capacity."""
        return super().finalize(**params, **({"k": k} if k is not None else {}))

    # ----------------------------------------------------------------- scoring
    def _transform(self, dataset: DataFrame) -> DataFrame:
        outputs = {self.getPredictionCol(): ("prediction", pa.int32())}
        if self.getDistanceCol():
            outputs[self.getDistanceCol()] = ("distance", pa.float64())
        scorer = partial(kmeans_scores, centers=self._solution.centers)
        return add_scores(dataset, self._scoring_spec(dataset, with_weight=False), scorer, outputs)

    def computeCost(self, dataset: DataFrame, centers: np.ndarray | None = None) -> KMeansCost:
        """ssd and msd of the dataset against the model's centers, or against other
        ``centers`` of the same dimension (one pass; weightCol applies)."""
        centers = self._solution.centers if centers is None else np.asarray(centers, dtype=np.float64)
        columns, spec = self._scoring_spec(dataset, with_weight=True)
        sums = sum_dataset(dataset, columns, spec, partial(kmeans_cost_sums, centers=centers))
        ssd, weight = (0.0, 0.0) if sums is None else (float(sums[0]), float(sums[1]))
        return KMeansCost(ssd=ssd, msd=ssd / weight if weight > 0 else float("nan"), totalWeight=weight)

    def _scoring_spec(self, dataset: DataFrame, with_weight: bool):
        features_col, features_cols, weight_col, handle_invalid = self._input_settings()
        return feature_spec(
            dataset, features_col, features_cols, weight_col if with_weight else None,
            handle_invalid, n_features=self.numFeatures,
        )  # fmt: skip

    def predict(self, features: np.ndarray) -> int:
        """The nearest center's index for one feature vector (MLlib's KMeansModel.predict)."""
        scores = kmeans_scores(np.asarray(features, dtype=np.float64).reshape(1, -1), self._solution.centers)
        return int(scores["prediction"][0])

    # ------------------------------------------------------------- persistence
    # The skeleton's format (the state's bytes, the summary) plus the solution, so a loaded
    # model scores with exactly the saved centers. Models saved before KMeans used the
    # skeleton hold the state as arrays named "state.<field>"; they load the same way.
    def _model_metadata(self) -> dict:
        return {**super()._model_metadata(), "trainingCost": self._solution.cost}

    def _model_arrays(self) -> dict[str, np.ndarray]:
        solution = self._solution
        return {**super()._model_arrays(), "centers": solution.centers, "cluster_weights": solution.weights}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], metadata: dict) -> "KMeansModel":
        if "state" in arrays:
            model = super()._from_saved(arrays, metadata)
        else:
            fields = {name[len("state."):]: value for name, value in arrays.items() if name.startswith("state.")}
            summary = FitSummary(**FitSummary._fields_from_metadata(metadata))
            model = cls._from_state(KMeansState.from_arrays(fields), summary)
        model._saved_solution = KMeansSolution(arrays["centers"], arrays["cluster_weights"],
                                               float(metadata["trainingCost"]))  # fmt: skip
        return model

    def _loaded(self) -> None:
        """The saved centers serve the loaded params (no finalize on load)."""
        saved = self.__dict__.pop("_saved_solution")
        self._finalize_cached(self._solution_key(), lambda: saved)


# what finalize reads: a change of any of these finalizes again
_SOLUTION_PARAMS = ("k", "localLloydMaxIter", "localLloydTol", "localLloydInitMethod", "localLloydNumTrials", "seed")
