"""Structured Streaming: fold every micro-batch into a saved model, once per batch id.

    updater = StreamingFit(KMeans(k=10), "s3://bucket/models/km")
    (spark.readStream.schema(schema).parquet("s3://bucket/incoming/")
         .writeStream.foreachBatch(updater)
         .option("checkpointLocation", "s3://bucket/checkpoints/km")
         .start())
    model = updater.latest_model()        # from any process, at any time

Each micro-batch continues the latest saved model (``setInitialModel``: its state is
merged with the batch's, as in incremental training) and the result is saved as a new
version. Structured Streaming replays a micro-batch with the same id after a failure, so
the updater keeps a log of the batch ids it has folded and skips any id at or below the
last one: a replayed batch is never counted twice.

Layout under ``path`` (any Hadoop path; written with Spark's own writers):
    versions/batch=<id>/   the model after batch <id> (a saved sagespark Model)
    log/                   JSON rows (batchId, version), appended after a version is saved
A crash between saving a version and logging it replays that batch into the same
version folder (overwritten), so the log never names a half-written model.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml import Estimator, Model
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

_LOG_SCHEMA = "batchId long, version string"


class StreamingFit:
    """A ``foreachBatch`` function folding micro-batches into ``estimator``'s model at ``path``."""

    def __init__(self, estimator: Estimator, path: str) -> None:
        if not hasattr(estimator, "setInitialModel"):
            raise TypeError(f"{type(estimator).__name__} cannot continue a model (no setInitialModel)")
        self.estimator = estimator
        self.path = path.rstrip("/")
        self.model_class: Any = estimator._model_class()

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        last = self.last_batch_id(spark)
        if last is not None and batch_id <= last:
            return  # a replay of a batch already folded
        if batch.isEmpty():
            return
        estimator = self.estimator.copy()
        estimator.setInitialModel(self.latest_model(spark))
        model = estimator.fit(batch)
        version = f"{self.path}/versions/batch={batch_id}"
        model.write().overwrite().save(version)
        spark.createDataFrame([(batch_id, version)], _LOG_SCHEMA).coalesce(1).write.mode("append").json(
            f"{self.path}/log"
        )

    def last_batch_id(self, spark: SparkSession | None = None) -> int | None:
        """The id of the last micro-batch folded into the saved model, None before the first."""
        latest = self._latest(spark or SparkSession.active())
        return None if latest is None else latest[0]

    def latest_model(self, spark: SparkSession | None = None) -> Model | None:
        """The model after the last folded micro-batch, None before the first."""
        latest = self._latest(spark or SparkSession.active())
        return None if latest is None else self.model_class.load(latest[1])

    def _latest(self, spark: SparkSession) -> tuple[int, str] | None:
        try:
            log = spark.read.schema(_LOG_SCHEMA).json(f"{self.path}/log")
            row = log.orderBy(F.col("batchId").desc()).first()
        except Exception as exc:  # no log yet: Spark's path-not-found error has no common type
            if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                return None
            raise
        return None if row is None else (int(row["batchId"]), row["version"])
