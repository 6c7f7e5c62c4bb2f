"""Model persistence on any Hadoop path, through Spark's own writers, never pickle.

Layout of a saved model directory:
    metadata/   Spark ML's JSON metadata (DefaultParamsWriter.saveMetadata)
    data/       parquet: one row per array chunk (name, dtype, shape, chunk, bytes)

Arrays are stored as raw little-endian buffers in chunks of at most 4 MiB (Spark rows
must stay well under 2 GB) and read back with np.frombuffer for an allow-listed dtype,
so loading a model can never execute code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReader, MLWriter
from pyspark.sql import SparkSession

_CHUNK_BYTES = 4 << 20
_SAFE_KINDS = "biufU"  # bool, int, uint, float, unicode: never object
_ARRAYS_SCHEMA = "name string, dtype string, shape array<long>, chunk int, data binary"


def save_arrays(spark: SparkSession, path: str, arrays: dict[str, np.ndarray]) -> None:
    rows = []
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind not in _SAFE_KINDS:
            raise TypeError(f"array '{name}' has unsupported dtype {array.dtype}")
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        payload = array.astype(dtype, copy=False).tobytes(order="C")
        chunks = [payload[i : i + _CHUNK_BYTES] for i in range(0, len(payload), _CHUNK_BYTES)] or [b""]
        rows += [(name, dtype.str, list(array.shape), i, c) for i, c in enumerate(chunks)]
    spark.createDataFrame(rows, _ARRAYS_SCHEMA).write.mode("overwrite").parquet(path)


def load_arrays(spark: SparkSession, path: str) -> dict[str, np.ndarray]:
    pieces: dict[str, list] = {}
    for row in spark.read.parquet(path).collect():
        pieces.setdefault(row["name"], []).append(row)
    arrays = {}
    for name, rows in pieces.items():
        rows.sort(key=lambda r: r["chunk"])
        dtype = np.dtype(rows[0]["dtype"])
        if dtype.kind not in _SAFE_KINDS:
            raise ValueError(f"array '{name}' in {path} has unsupported dtype {dtype}")
        payload = b"".join(bytes(r["data"]) for r in rows)
        arrays[name] = np.frombuffer(payload, dtype=dtype).reshape(rows[0]["shape"]).copy()
    return arrays


class ArraysModelWriter(MLWriter):
    """Writes Params as Spark ML metadata and ``instance._model_arrays()`` as parquet;
    ``instance._model_metadata()`` (JSON-able) goes into the metadata's extra fields."""

    def __init__(self, instance: Any) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(
            self.instance, path, self.sparkSession, extraMetadata=self.instance._model_metadata()
        )
        save_arrays(self.sparkSession, f"{path}/data", self.instance._model_arrays())


class ArraysModelReader(MLReader):
    """Reads what ArraysModelWriter wrote, via ``cls._from_saved(arrays, metadata)``."""

    def __init__(self, cls: type) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Any:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        arrays = load_arrays(self.sparkSession, f"{path}/data")
        model = self.cls._from_saved(arrays, metadata)
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
