"""Clustering estimators: one-pass, mergeable k-means.

``KMeans`` folds every partition into a :class:`~sagespark.streaming.KMeansState`
(a bounded core set of weighted centers), merges the partition states as a tree, and
finalizes k centers on the driver with weighted k-means++ and Lloyd on the state alone.
The model keeps the state, so ``model.finalize(k=...)`` gives other k without touching
the data, ``fitMultiple`` serves a whole grid over k from one pass, and
``KMeans().setInitialModel(model).fit(new_data)`` continues training.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasAggregationDepth, HasDistanceMeasure, HasPredictionCol, HasSeed
from pyspark.ml.util import DefaultParamsReadable, MLReadable, MLWritable
from pyspark.sql import DataFrame

from sagespark.kernels.kmeans import nearest_centers
from sagespark.spark.features import feature_spec
from sagespark.spark.fold import fold_dataset, sum_dataset
from sagespark.spark.params import HasInputParams, HasMiniBatchSize, auto_or_int, stable_default_seed
from sagespark.spark.persistence import ArraysModelReader, ArraysModelWriter, ParamsWritable
from sagespark.spark.onepass import FitSummary, PassResult, continued_state
from sagespark.spark.progress import FINALIZE_PHASE, PhaseClock, pass_description
from sagespark.spark.scoring import add_scores
from sagespark.spark.tuning import SharedPassIterator
from sagespark.streaming.kmeans import INIT_METHODS, KMeansSolution, KMeansState

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


def _new_state(partition: int, **params: Any) -> KMeansState:
    return KMeansState(stream_id=partition, **params)


def _restart_state(partition: int, template: bytes) -> KMeansState:
    """A later epoch: the previous pass's centers at weight 0, so each row counts once."""
    state = KMeansState.from_bytes(template)
    state.weights = np.zeros_like(state.weights)
    state.stream_id, state.batches_seen, state.weight_seen = partition, 0, 0.0
    return state


class KMeans(Estimator, _KMeansParams, DefaultParamsReadable, ParamsWritable):
    """One-pass, mergeable k-means (SageMaker's algorithm) as a Spark ML Estimator.

    >>> model = KMeans(k=3, seed=1).fit(df)          # doctest: +SKIP
    >>> model.clusterCenters()                         # doctest: +SKIP
    """

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
        self._initial_model: KMeansModel | None = None
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

    def setInitialModel(self, model: "KMeansModel | None") -> "KMeans":
        """Continue training: the next fit merges the new data's state into this model's
        state (incremental training). Not a Param, so not saved with the estimator."""
        self._initial_model = model
        return self

    def getInitialModel(self) -> "KMeansModel | None":
        return self._initial_model

    def _model_class(self) -> type["KMeansModel"]:
        return KMeansModel

    # ----------------------------------------------------------------- fitting
    def _fit(self, dataset: DataFrame) -> "KMeansModel":
        return self._model(self._fit_state(dataset, self.getK()))

    def _fit_state(self, dataset: DataFrame, capacity_k: int) -> PassResult:
        """One pass (``epochs`` passes) over the data; the state is sized for capacity_k."""
        self._check_distance_measure()
        features_col, features_cols, weight_col, handle_invalid = self._input_settings()
        initial = self._initial_model
        columns, spec = feature_spec(
            dataset, features_col, features_cols, weight_col, handle_invalid,
            n_features=initial.numFeatures if initial is not None else None,
        )  # fmt: skip
        if self.getInitMethod() not in INIT_METHODS:
            raise ValueError(f"initMethod must be one of {INIT_METHODS}, got {self.getInitMethod()!r}")
        new_state = partial(
            _new_state, k=capacity_k, extra_center_factor=self.getExtraCenterFactor(),
            mini_batch_size=self.getMiniBatchSize(), init_method=self.getInitMethod(),
            half_life_time_size=self.getHalfLifeTimeSize(), seed=self.getSeed(),
        )  # fmt: skip
        new_state(0)  # validate the params on the driver before launching a job
        if self.getEpochs() < 1:
            raise ValueError(f"epochs must be >= 1, got {self.getEpochs()}")
        clock = PhaseClock()
        for epoch in range(self.getEpochs()):
            description = pass_description(self, epoch + 1, self.getEpochs())
            result = fold_dataset(dataset, columns, spec, new_state, self.getAggregationDepth(), description=description)
            clock.add(result.seconds)
            new_state = partial(_restart_state, template=result.state.to_bytes())
        state = continued_state(result.state, initial, clock)
        summary = FitSummary(result.rows, result.skipped, self.getEpochs(), clock.seconds)
        return PassResult(state, summary.continuing(initial._fit if initial is not None else None))

    def _model(self, result: PassResult) -> "KMeansModel":
        clock = PhaseClock()
        with clock.phase(FINALIZE_PHASE):
            solution = self._finalize_state(result.state)
        fit = result.summary.with_phase(FINALIZE_PHASE, clock.seconds[FINALIZE_PHASE])
        model = KMeansModel._from_state(result.state, solution, fit)
        model._resetUid(self.uid)
        return self._copyValues(model)

    def fitMultiple(self, dataset: DataFrame, paramMaps: Sequence[dict]) -> SharedPassIterator:
        """One pass for every group of paramMaps that differ only in finalize-time params
        (k, localLloyd*, output columns); the shared state is sized for the group's
        largest k. Thread-safe, as CrossValidator requires."""
        estimators = [self.copy(pm) for pm in paramMaps]

        def pass_key(index_map: dict) -> tuple:
            return tuple(sorted((p.name, repr(v)) for p, v in index_map.items() if p.name not in FINALIZE_PARAMS))

        def run_pass(indices: list[int]) -> PassResult:
            capacity_k = max(estimators[i].getK() for i in indices)
            return estimators[indices[0]]._fit_state(dataset, capacity_k)

        return SharedPassIterator(paramMaps, pass_key, run_pass, lambda i, r: estimators[i]._model(r))

    def copy(self, extra: dict | None = None) -> "KMeans":
        copied = super().copy(extra)
        copied._initial_model = self._initial_model
        return copied


class KMeansModel(Model, _KMeansParams, MLReadable, MLWritable):
    """Fitted k-means: k centers plus the state they were finalized from."""

    def __init__(self) -> None:
        super().__init__()
        self._state: KMeansState | None = None
        self._solution: KMeansSolution | None = None
        self._fit = FitSummary(0, 0)

    @classmethod
    def _from_state(cls, state: KMeansState, solution: KMeansSolution, fit: FitSummary) -> "KMeansModel":
        model = cls()
        model._state, model._solution, model._fit = state, solution, fit
        return model

    # ------------------------------------------------------------- inspection
    def clusterCenters(self) -> list[np.ndarray]:
        """The k centers, as MLlib's KMeansModel returns them."""
        return [center.copy() for center in self._solution.centers]

    @property
    def numFeatures(self) -> int:
        return self._state.n_features

    @property
    def state(self) -> KMeansState:
        """A copy of the kept state (for inspection, or merging outside Spark)."""
        return self._state.copy()

    @property
    def hasSummary(self) -> bool:
        return self._solution is not None

    @property
    def summary(self) -> KMeansSummary:
        return KMeansSummary(
            **vars(self._fit),
            k=len(self._solution.centers),
            totalWeight=float(self._state.weights.sum()),
            clusterWeights=[float(w) for w in self._solution.weights],
            trainingCost=float(self._solution.cost),
            numStateCenters=int((self._state.weights > 0).sum()),
        )

    def finalize(self, k: int | None = None, **params: Any) -> "KMeansModel":
        """A new model from the kept state with other finalize-time params (k,
        localLloydMaxIter, localLloydTol, localLloydInitMethod, localLloydNumTrials);
        no data is read. k may go up to the state's capacity."""
        unknown = set(params) - (FINALIZE_PARAMS - {"predictionCol", "distanceCol"})
        if unknown:
            raise ValueError(f"not finalize-time params: {sorted(unknown)}")
        copied = self.copy()
        copied._set(**params, **({"k": k} if k is not None else {}))
        copied._solution = copied._finalize_state(self._state)
        return copied

    # ----------------------------------------------------------------- scoring
    def _transform(self, dataset: DataFrame) -> DataFrame:
        outputs = {self.getPredictionCol(): ("prediction", pa.int32())}
        if self.getDistanceCol():
            outputs[self.getDistanceCol()] = ("distance", pa.float64())
        scorer = partial(_kmeans_scores, centers=self._solution.centers)
        return add_scores(dataset, self._scoring_spec(dataset, with_weight=False), scorer, outputs)

    def computeCost(self, dataset: DataFrame) -> KMeansCost:
        """ssd and msd of the dataset against the centers (one pass; weightCol applies)."""
        columns, spec = self._scoring_spec(dataset, with_weight=True)
        sums = sum_dataset(dataset, columns, spec, partial(_kmeans_cost_sums, centers=self._solution.centers))
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
        labels, _ = nearest_centers(np.asarray(features, dtype=np.float64).reshape(1, -1), self._solution.centers)
        return int(labels[0])

    # ------------------------------------------------------------- persistence
    def write(self) -> ArraysModelWriter:
        return ArraysModelWriter(self)

    @classmethod
    def read(cls) -> ArraysModelReader:
        return ArraysModelReader(cls)

    def _model_metadata(self) -> dict:
        return {**self._fit._metadata(), "trainingCost": self._solution.cost}

    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"state.{name}": value for name, value in self._state.to_arrays().items()}
        arrays["centers"] = self._solution.centers
        arrays["cluster_weights"] = self._solution.weights
        return arrays

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], metadata: dict) -> "KMeansModel":
        state = KMeansState.from_arrays(
            {name[len("state."):]: value for name, value in arrays.items() if name.startswith("state.")}
        )
        solution = KMeansSolution(arrays["centers"], arrays["cluster_weights"], float(metadata["trainingCost"]))
        return cls._from_state(state, solution, FitSummary(**FitSummary._fields_from_metadata(metadata)))


def _kmeans_scores(features, centers: np.ndarray) -> dict[str, np.ndarray]:
    labels, d2 = nearest_centers(features, centers)
    return {"prediction": labels.astype(np.int32), "distance": np.sqrt(d2)}


def _kmeans_cost_sums(features, weights: np.ndarray, centers: np.ndarray) -> np.ndarray:
    _, d2 = nearest_centers(features, centers)
    return np.array([weights @ d2, weights.sum()])
