"""Model persistence on any Hadoop path, through Spark's own writers, never pickle.

Layout of a saved model directory:
    metadata/   Spark ML's JSON metadata (DefaultParamsWriter.saveMetadata)
    data/       parquet: one row per array chunk (name, dtype, shape, chunk, bytes)

Arrays are stored as raw little-endian buffers in chunks of at most 4 MiB (Spark rows
must stay well under 2 GB) and read back with np.frombuffer for an allow-listed dtype,
so loading a model can never execute code. A folder that does not hold what the loading
class wrote (another class in its metadata, a missing part, an array whose bytes do not
fill its shape or whose dtype is not allowed) is refused with a ValueError naming it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from pyspark.ml.util import (
    DefaultParamsReader, DefaultParamsWritable, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter,
)  # fmt: skip
from pyspark.sql import SparkSession
from pyspark.sql.utils import is_remote

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
    for row in _read_part(path, lambda: spark.read.parquet(path).collect()):
        pieces.setdefault(row["name"], []).append(row)
    arrays = {}
    for name, rows in pieces.items():
        rows.sort(key=lambda r: r["chunk"])
        dtype = np.dtype(rows[0]["dtype"])
        if dtype.kind not in _SAFE_KINDS:
            raise ValueError(f"array '{name}' in {path} has unsupported dtype {dtype}")
        payload = b"".join(bytes(r["data"]) for r in rows)
        shape = [int(n) for n in rows[0]["shape"]]
        if any(n < 0 for n in shape) or int(np.prod(shape)) * dtype.itemsize != len(payload):
            raise ValueError(f"array '{name}' in {path}: {len(payload)} bytes do not fill shape {shape} of {dtype}")
        arrays[name] = np.frombuffer(payload, dtype=dtype).reshape(shape).copy()
    return arrays


def _read_part(path: str, read: Callable[[], Any]) -> Any:
    """``read()``, with a missing or unreadable part of a saved model reported as such."""
    try:
        return read()
    except Exception as exc:  # Spark's path-not-found and parse errors have no common type
        raise ValueError(f"cannot read {path} (not a complete sagespark model?): {str(exc).splitlines()[0]}") from None


def saved_as(module: str, *earlier: str) -> Callable[[type], type]:
    """Class decorator for a public stage: its path is ``module.<name>`` (where users
    import it, what its repr and saved models' metadata name), wherever it is defined;
    a folder saved under one of the ``earlier`` modules (the class's home before a
    move, still importable there for pyspark's Pipeline reader) loads too."""

    def publish(cls: type) -> type:
        cls.__module__ = module
        cls._saved_before = tuple(f"{name}.{cls.__name__}" for name in earlier)
        return cls

    return publish


def check_saved_class(metadata: dict, cls: type, path: str) -> None:
    """The metadata must name exactly ``cls`` (or its path before a move, ``saved_as``):
    nothing else is ever imported or built."""
    expected, found = f"{cls.__module__}.{cls.__name__}", metadata.get("class")
    if found != expected and found not in cls.__dict__.get("_saved_before", ()):
        raise ValueError(f"{path} holds a {found!r}, not a {expected!r}; nothing was loaded")


class ConnectAwareOverwrite(MLWriter):
    """``write().overwrite()`` on Spark Connect too: pyspark's MLWriter clears the path
    through the JVM, which a Connect client has no handle to; there the Connect server's
    ML helper clears it (what pyspark's own Pipeline and CrossValidator writers do)."""

    def _handleOverwrite(self, path: str) -> None:
        if is_remote():
            from pyspark.ml.connect.readwrite import RemoteMLWriter

            RemoteMLWriter.handleOverwrite(path, True)
        else:
            super()._handleOverwrite(path)


class ParamsWriter(ConnectAwareOverwrite, DefaultParamsWriter):
    """DefaultParamsWriter (the Params as Spark ML JSON metadata) that can overwrite on Connect."""


class ParamsWritable(DefaultParamsWritable):
    """DefaultParamsWritable whose writer also overwrites on Spark Connect."""

    def write(self) -> MLWriter:
        return ParamsWriter(self)


class ArraysModelWriter(ConnectAwareOverwrite):
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
        metadata = _read_part(f"{path}/metadata", lambda: DefaultParamsReader.loadMetadata(path, self.sparkSession))
        check_saved_class(metadata, self.cls, path)
        arrays = load_arrays(self.sparkSession, f"{path}/data")
        try:
            model = self.cls._from_saved(arrays, metadata)
        except KeyError as missing:
            raise ValueError(f"{path} lacks {missing.args[0]!r}, which a {self.cls.__name__} saves") from None
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        model._loaded()
        return model


class ArraysPersisted(MLReadable, MLWritable):
    """A Model saved by ArraysModelWriter and loaded by ArraysModelReader: it provides
    ``_model_arrays()``, ``_model_metadata()``, ``_from_saved(arrays, metadata)`` and
    ``_loaded()``."""

    def write(self) -> ArraysModelWriter:
        return ArraysModelWriter(self)

    @classmethod
    def read(cls) -> ArraysModelReader:
        return ArraysModelReader(cls)
