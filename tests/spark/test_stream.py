"""Structured Streaming: StreamingFit folds each micro-batch once (replays are skipped),
and a Model transforms a streaming DataFrame, with a file source in local mode."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

from sagespark.clustering import KMeans, KMeansModel
from sagespark.feature import StandardScaler, StandardScalerModel
from sagespark.spark.stream import StreamingFit

SCHEMA = StructType([StructField("features", ArrayType(DoubleType()))])
BATCHES, ROWS = 3, 100


@pytest.fixture
def source(spark, tmp_path):
    """A folder that receives BATCHES parquet files of ROWS rows (one micro-batch each)."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(BATCHES * ROWS, 3)) * [1.0, 2.0, 3.0] + [5.0, 0.0, -1.0]
    folder = tmp_path / "incoming"
    for b in range(BATCHES):
        rows = [(r.tolist(),) for r in x[b * ROWS : (b + 1) * ROWS]]
        spark.createDataFrame(rows, SCHEMA).coalesce(1).write.mode("append").parquet(str(folder))
    return x, str(folder)


def stream_of(spark, folder):
    return spark.readStream.schema(SCHEMA).option("maxFilesPerTrigger", 1).parquet(folder)


def run_to_end(writer, checkpoint):
    query = writer.option("checkpointLocation", str(checkpoint)).trigger(availableNow=True).start()
    query.awaitTermination()
    assert query.exception() is None


def test_streamed_model_equals_a_full_fit_and_replays_count_once(spark, source, tmp_path):
    x, folder = source
    updater = StreamingFit(StandardScaler(inputCol="features", outputCol="scaled", withMean=True), str(tmp_path / "m"))
    run_to_end(stream_of(spark, folder).writeStream.foreachBatch(updater), tmp_path / "checkpoint")
    assert updater.last_batch_id() == BATCHES - 1
    model = updater.latest_model()
    assert isinstance(model, StandardScalerModel) and model.summary.numRows == BATCHES * ROWS
    np.testing.assert_allclose(model.mean.toArray(), x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.std.toArray(), x.std(axis=0, ddof=1), rtol=1e-12)

    replayed = spark.read.parquet(folder).limit(ROWS)
    updater(replayed, BATCHES - 1)  # Structured Streaming replays a failed batch with its id
    updater(replayed, 0)
    assert updater.latest_model().summary.numRows == BATCHES * ROWS
    updater(replayed, BATCHES)  # a new batch id is folded
    assert updater.latest_model().summary.numRows == (BATCHES + 1) * ROWS


def test_a_restarted_updater_continues_from_the_saved_model(spark, source, tmp_path):
    _, folder = source
    path = str(tmp_path / "km")
    first = StreamingFit(KMeans(k=2, seed=1), path)
    first(spark.read.parquet(folder).limit(ROWS), 0)
    again = StreamingFit(KMeans(k=2, seed=1), path)  # another process, same path
    assert again.last_batch_id() == 0
    again(spark.read.parquet(folder), 1)
    model = again.latest_model()
    assert isinstance(model, KMeansModel) and model.summary.numRows == ROWS + BATCHES * ROWS


def test_a_model_transforms_a_streaming_dataframe(spark, source, tmp_path):
    _, folder = source
    static = spark.read.parquet(folder)
    model = KMeans(k=3, seed=2).fit(static)
    writer = model.transform(stream_of(spark, folder)).writeStream.format("memory").queryName("km_stream")
    run_to_end(writer, tmp_path / "checkpoint")
    streamed = sorted((tuple(r["features"]), r["prediction"]) for r in spark.table("km_stream").collect())
    expected = sorted((tuple(r["features"]), r["prediction"]) for r in model.transform(static).collect())
    assert streamed == expected and len(streamed) == BATCHES * ROWS


def test_an_estimator_that_cannot_continue_is_refused(tmp_path):
    from pyspark.ml.feature import StandardScaler as MLlibScaler

    with pytest.raises(TypeError, match="StandardScaler cannot continue a model"):
        StreamingFit(MLlibScaler(), str(tmp_path))
