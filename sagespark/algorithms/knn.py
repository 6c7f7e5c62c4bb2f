"""What KNNClassifier (sagespark.classification) and KNNRegressor
(sagespark.regression) share: the params, the one-pass sampling fit, and the Model
that builds the index from the kept sample and searches it in transform. The
algorithm lives in sagespark.states.knn and sagespark.kernels.knn.

Params follow SageMaker's k-NN (k, sample_size, dimension_reduction_type / _target,
index_type, index_metric, faiss_index_ivf_nlists) in PySpark's camelCase. Only
``sampleSize``, ``seed``, ``weightCol`` and the input columns shape the fit; every
other param is applied at finalize, from the sample, so ``model.finalize(...)``
changes k, the index, the projection or the predictor type without data, and
fitMultiple serves any grid over them with one pass.

Transform ships the index to the Python workers once (a Spark broadcast each worker
decodes once and keeps); above ``maxLocalIndexBytes`` it shards the index instead
(``_sharded_transform``): every shard meets every query in one task per shard, and
the per-shard top-k lists of a query are merged (top-k is mergeable).
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any, Callable, ClassVar

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.param import TypeConverters
from pyspark.ml.param.shared import HasLabelCol, HasPredictionCol, HasProbabilityCol, HasRawPredictionCol, HasSeed
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sagespark.spark.features import feature_spec
from sagespark.spark.onepass import OnePassEstimator, StateModel
from sagespark.spark.params import HasInputParams, auto_or_int, param, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.scoring import add_scores, add_struct_outputs
from sagespark.spark.session import spark_context
from sagespark.states.base import AUTO, new_state
from sagespark.states.knn import IndexConfig, KNNIndex, KNNSample, generation_seed
from sagespark.udfs.arrow import CLASS_INDEX_LABELS, VECTOR_ARROW_TYPE, FeatureSpec
from sagespark.udfs.knn import (
    QUERY_ID,
    SHARD_SCHEMA,
    ShippedIndex,
    knn_mean,
    knn_vote,
    local_neighbours,
    merge_shard_lists,
    shard_neighbours,
)

PREDICTORS = ("classifier", "regressor")
# Spark Connect sends a local index inside the pickled function of the query plan; plans
# must stay well under the Connect server's 128 MiB message limit
# (spark.connect.grpc.maxInboundMessageSize), so larger indexes are searched in shards.
CONNECT_INLINE_INDEX_BYTES = 64 << 20
DEFAULT_NPROBE = 32  # recall 0.98 on the benchmark's blobs (0.89 at 16); see docs/knn.md
_SHARD, _NEIGHBOURS = "_ss_shard", "_ss_neighbours"


class _KNNParams(HasInputParams, HasLabelCol, HasPredictionCol, HasSeed):
    k = param("k", "neighbours per query (> 0, at most the sampled rows)", TypeConverters.toInt)
    sampleSize = param("sampleSize", "rows kept in the weighted reservoir sample that becomes the index (> 0)",
                        TypeConverters.toInt)  # fmt: skip
    dimensionReductionType = param(
        "dimensionReductionType", "'none', 'sign' (random +-1 projection) or 'fjlt' (fast Johnson-Lindenstrauss "
        "transform); applied to the sample at finalize and to every query", TypeConverters.toString)  # fmt: skip
    dimensionReductionTarget = param("dimensionReductionTarget", "projected dimension for 'sign' / 'fjlt' "
                                      "(0 < target < features)", TypeConverters.toInt)  # fmt: skip
    indexType = param("indexType", "'flat' (exact search) or 'ivf' (inverted lists: search the ivfNprobe lists "
                       "nearest to the query)", TypeConverters.toString)  # fmt: skip
    indexMetric = param("indexMetric", "'L2' (Euclidean), 'INNER_PRODUCT' (largest first) or 'COSINE' "
                         "(largest cosine similarity first)", TypeConverters.toString)  # fmt: skip
    ivfNlists = param("ivfNlists", "ivf: inverted lists ('auto': sqrt of the sampled rows)", auto_or_int)
    ivfNprobe = param("ivfNprobe", "ivf: lists searched per query (more lists are searched while those hold "
                       "fewer than k rows)", TypeConverters.toInt)  # fmt: skip
    verbose = param("verbose", "also output each query's k distances (distancesCol) and labels "
                     "(neighborLabelsCol), nearest first", TypeConverters.toBoolean)  # fmt: skip
    distancesCol = param("distancesCol", "verbose output: Euclidean distances for L2, inner products or cosine "
                          "similarities otherwise, nearest first", TypeConverters.toString)  # fmt: skip
    neighborLabelsCol = param("neighborLabelsCol", "verbose output: the neighbours' labels, nearest first",
                               TypeConverters.toString)  # fmt: skip
    maxLocalIndexBytes = param("maxLocalIndexBytes", "indexes up to this size are shipped whole to every Python "
                                "worker; larger ones are searched in shards of this size by a distributed join",
                                TypeConverters.toInt)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            labelCol="label", predictionCol="prediction", k=5, sampleSize=100_000, dimensionReductionType="none",
            dimensionReductionTarget=0, indexType="flat", indexMetric="L2", ivfNlists=AUTO,
            ivfNprobe=DEFAULT_NPROBE, verbose=False, distancesCol="distances", neighborLabelsCol="neighborLabels",
            maxLocalIndexBytes=1 << 30, seed=stable_default_seed(self),
        )  # fmt: skip

    def getK(self) -> int:
        return self.getOrDefault(self.k)

    def getSampleSize(self) -> int:
        return self.getOrDefault(self.sampleSize)

    def _index_config(self) -> IndexConfig:
        return IndexConfig(
            self.getOrDefault(self.dimensionReductionType), self.getOrDefault(self.dimensionReductionTarget),
            self.getOrDefault(self.indexMetric), self.getOrDefault(self.indexType), self.getOrDefault(self.ivfNlists),
            self.getSeed(),
        )  # fmt: skip

    def _knn_input(self, dataset: DataFrame, n_features: int | None, with_label: bool) -> tuple[list, FeatureSpec]:
        features_col, features_cols, weight, handle_invalid = self._input_settings()
        if not with_label:
            return feature_spec(dataset, features_col, features_cols, None, handle_invalid, n_features)
        labels = CLASS_INDEX_LABELS if self.PREDICTOR == "classifier" else 0
        return feature_spec(dataset, features_col, features_cols, weight, handle_invalid, n_features,
                            self.getLabelCol(), labels)  # fmt: skip


# Everything but the sample's own params (sampleSize, seed, weightCol, the input columns).
KNN_FINALIZE = frozenset(
    {"k", "dimensionReductionType", "dimensionReductionTarget", "indexType", "indexMetric", "ivfNlists", "ivfNprobe",
     "verbose", "distancesCol", "neighborLabelsCol", "maxLocalIndexBytes", "predictionCol", "probabilityCol",
     "rawPredictionCol"}
)  # fmt: skip


class _KNNEstimator(OnePassEstimator, _KNNParams):
    PREDICTOR: ClassVar[str]
    FINALIZE_PARAMS = KNN_FINALIZE

    def _input(self, dataset: DataFrame, n_features: int | None):
        if self.getSampleSize() < 1:
            raise ValueError(f"sampleSize must be > 0, got {self.getSampleSize()}")
        return self._knn_input(dataset, n_features, with_label=True)

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], KNNSample]:
        initial = self.getInitialModel()
        generation = initial._state.generation + 1 if initial is not None else 0
        seed = generation_seed(self.getSeed(), generation)
        return partial(new_state, kind=KNNSample.kind, size=self.getSampleSize(), seed=seed, generation=generation)

    def _state_bytes(self, spec: FeatureSpec) -> int:
        return 8 * self.getSampleSize() * (spec.n_features + 3)


class _KNNModel(StateModel, _KNNParams):
    """The sample, kept; the index built from it for the finalize-time params; and the
    search in transform. ``finalize(k=..., predictorType=..., indexType=...)`` gives
    another model from the same sample without data."""

    def _describe(self) -> dict[str, Any]:
        return {"k": self.getK(), "sampleRows": int(self._state.features.shape[0])}

    PREDICTOR: ClassVar[str]
    FINALIZE_PARAMS = KNN_FINALIZE
    _BY_PREDICTOR: ClassVar[dict[str, type["_KNNModel"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KNNModel._BY_PREDICTOR[cls.PREDICTOR] = cls

    # the sample ---------------------------------------------------------------
    @property
    def numFeatures(self) -> int:
        return int(self._state.features.shape[1])

    @property
    def sampleFeatures(self) -> np.ndarray:
        """The sampled rows (sample size x features), in index-id order (the order
        that breaks distance ties)."""
        features = self._state.features
        return features.to_dense() if hasattr(features, "to_dense") else np.array(features)

    @property
    def sampleLabels(self) -> np.ndarray:
        return self._state.labels.copy()

    # the index ----------------------------------------------------------------
    @property
    def index(self) -> KNNIndex:
        """The search index for the current params (built once per setting)."""
        config = self._index_config()
        return self._finalize_cached(config, lambda: self._state.finalize(config))

    def _finalized(self) -> "_KNNModel":
        k, rows = self.getK(), len(self._state.labels)
        if k < 1 or k > rows:
            raise ValueError(f"k must be in 1..{rows} (the sampled rows), got {k}")
        if self.getOrDefault(self.ivfNprobe) < 1:
            raise ValueError(f"ivfNprobe must be > 0, got {self.getOrDefault(self.ivfNprobe)}")
        self._check_labels(self._state.labels)
        self.index
        return self

    def _check_labels(self, labels: np.ndarray) -> None:
        """Predictor-specific label checks on the sample (classifier: class indices)."""

    def finalize(self, **params: Any) -> "_KNNModel":
        """A new model from the kept sample with other finalize-time params; also
        ``predictorType='classifier' | 'regressor'`` (SageMaker's predictor_type, which
        it lets users change after training) returns the other kind of model."""
        predictor = params.pop("predictorType", self.PREDICTOR)
        if predictor not in PREDICTORS:
            raise ValueError(f"predictorType must be one of {PREDICTORS}, got {predictor!r}")
        if predictor == self.PREDICTOR:
            return super().finalize(**params)
        other = self._BY_PREDICTOR[predictor]._from_state(self._state, self._summary)
        other._resetUid(self.uid)
        for set_param, value in self._paramMap.items():
            if other.hasParam(set_param.name):
                other._set(**{set_param.name: value})
        return other.finalize(**params)

    # transform ------------------------------------------------------------------
    def _outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        """{column: (predict key, Arrow type)} of the predictor's columns."""
        raise NotImplementedError

    def _predict(self) -> Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
        """A picklable (distances, neighbour labels) -> outputs."""
        raise NotImplementedError

    def _all_outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        outputs = self._outputs()
        if self.getOrDefault(self.verbose):
            outputs[self.getOrDefault(self.distancesCol)] = ("distances", pa.list_(pa.float64()))
            outputs[self.getOrDefault(self.neighborLabelsCol)] = ("labels", pa.list_(pa.float64()))
        return outputs

    def _transform(self, dataset: DataFrame) -> DataFrame:
        index, limit = self.index, self._local_index_limit(dataset)
        if index.nbytes > limit:
            return self._sharded_transform(dataset, index, limit)
        scorer = partial(local_neighbours, index=self._shipped(index, dataset), k=self.getK(), nprobe=self.getOrDefault(self.ivfNprobe),
                         predict=self._predict())  # fmt: skip
        columns_and_spec = self._knn_input(dataset, self.numFeatures, with_label=False)
        return add_scores(dataset, columns_and_spec, scorer, self._all_outputs())

    def _local_index_limit(self, dataset: DataFrame) -> int:
        """maxLocalIndexBytes; on Spark Connect at most CONNECT_INLINE_INDEX_BYTES, as
        the index then travels inside the query plan (no broadcast there)."""
        limit = self.getOrDefault(self.maxLocalIndexBytes)
        return limit if spark_context(dataset) is not None else min(limit, CONNECT_INLINE_INDEX_BYTES)

    def _shipped(self, index: KNNIndex, dataset: DataFrame) -> ShippedIndex:
        """The index as sent to the workers, one broadcast per index this model built."""
        shipped = getattr(self, "_shipped_index", None)
        if shipped is None or shipped[0] is not index:
            data, context = index.to_bytes(), spark_context(dataset)
            shipped = (index, ShippedIndex(uuid.uuid4().hex, context.broadcast(data) if context is not None else data))
            self._shipped_index = shipped
        return shipped[1]

    def _sharded_transform(self, dataset: DataFrame, index: KNNIndex, shard_bytes: int) -> DataFrame:
        """Each shard meets every query in one task (a cogroup on the shard id); a
        query's per-shard top-k lists are collected (one struct per shard) and merged in
        a last Arrow UDF that also computes the outputs."""
        k, spark = self.getK(), dataset.sparkSession
        shards = index.shards(shard_bytes)
        with_id = dataset.withColumn(QUERY_ID, F.monotonically_increasing_id())
        columns, spec = self._knn_input(with_id, self.numFeatures, with_label=False)
        shard_table = spark.createDataFrame(pa.table({
            _SHARD: pa.array(range(len(shards)), pa.int32()), "index": pa.array([s.to_bytes() for s in shards]),
        }))  # fmt: skip
        shard_ids = spark.range(len(shards)).select(F.col("id").cast("int").alias(_SHARD))
        queries = with_id.select(F.col(QUERY_ID), *columns).crossJoin(shard_ids)
        search = partial(shard_neighbours, spec=spec, k=k, nprobe=self.getOrDefault(self.ivfNprobe))
        found = queries.groupBy(_SHARD).cogroup(shard_table.groupBy(_SHARD)).applyInArrow(search, SHARD_SCHEMA)
        parts = F.collect_list(F.struct("scores", "ids", "labels"))
        merged = found.groupBy(QUERY_ID).agg(F.first("q_sq").alias("_ss_q_sq"), parts.alias(_NEIGHBOURS))
        joined = with_id.join(merged, QUERY_ID, "left")
        neighbours = [F.col("_ss_q_sq")] + [_flattened(field) for field in ("scores", "ids", "labels")]
        finish = partial(merge_shard_lists, k=k, metric=index.metric, predict=self._predict())
        return add_struct_outputs(joined, neighbours, finish, self._all_outputs()).drop(QUERY_ID, "_ss_q_sq", _NEIGHBOURS)


def _flattened(field: str) -> Column:
    """One field of every shard's list of a query, concatenated in shard order."""
    return F.flatten(F.transform(_NEIGHBOURS, lambda part: part[field]))


# ------------------------------------------------------------ classifier
class _KNNClassifierParams(_KNNParams, HasRawPredictionCol, HasProbabilityCol):
    PREDICTOR = "classifier"

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(rawPredictionCol="rawPrediction", probabilityCol="probability")


@saved_as("sagespark.classification")
class KNNClassifier(_KNNEstimator, _KNNClassifierParams, DefaultParamsReadable, ParamsWritable):
    """k-nearest-neighbour classification (SageMaker's k-NN, predictor_type
    'classifier'): one pass keeps a weighted reservoir sample of ``sampleSize``
    labelled rows; the index (flat or ivf, optionally projected) is built from it and
    every query is labelled by the majority vote of its k nearest sampled rows. Labels
    are class indices 0, 1, 2, ...

    >>> model = KNNClassifier(k=10, sampleSize=200_000).fit(df)    # doctest: +SKIP
    >>> model.finalize(k=25, indexType="ivf").transform(queries)   # doctest: +SKIP
    """

    @keyword_only
    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "KNNClassifier":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _model_class(self):
        return KNNClassificationModel


@saved_as("sagespark.classification")
class KNNClassificationModel(_KNNModel, _KNNClassifierParams):
    """rawPrediction: the votes per class among the k neighbours; probability: votes / k;
    prediction: the class with the most votes, a tie going to the smallest class index
    (as scikit-learn's KNeighborsClassifier). ``verbose`` adds the neighbours' distances
    and labels."""

    @property
    def numClasses(self) -> int:
        """max(sampled label) + 1."""
        return int(self._state.labels.max()) + 1

    def _check_labels(self, labels: np.ndarray) -> None:
        if not ((labels >= 0) & (labels == np.floor(labels))).all():
            raise ValueError("a k-NN classifier needs class-index labels (integers >= 0) in its sample")

    def _outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        outputs = {self.getRawPredictionCol(): ("raw", VECTOR_ARROW_TYPE)}
        if self.getProbabilityCol():
            outputs[self.getProbabilityCol()] = ("probability", VECTOR_ARROW_TYPE)
        outputs[self.getPredictionCol()] = ("prediction", pa.float64())
        return outputs

    def _predict(self):
        return partial(knn_vote, num_classes=self.numClasses)


# ------------------------------------------------------------- regressor
class _KNNRegressorParams(_KNNParams):
    PREDICTOR = "regressor"


@saved_as("sagespark.regression")
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


@saved_as("sagespark.regression")
class KNNRegressionModel(_KNNModel, _KNNRegressorParams):
    """prediction: the mean label of the k neighbours (unweighted, as scikit-learn's
    KNeighborsRegressor with uniform weights). ``verbose`` adds their distances and
    labels."""

    def _outputs(self) -> dict[str, tuple[str, pa.DataType]]:
        return {self.getPredictionCol(): ("prediction", pa.float64())}

    def _predict(self):
        return knn_mean
