"""Add score columns with ``withColumn`` and a scalar-iterator Arrow UDF over the
feature columns only (measured ~3x faster than mapInArrow over every column)."""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_type
from pyspark.ml.linalg import VectorUDT
from pyspark.sql.types import StructField, StructType, UserDefinedType

from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec
from sagespark.udfs.score import Scorer, score_batches

_TMP = "_sagespark_scores"
# Spark 4.3's columnar input path for Arrow UDFs fails with UNSUPPORTED_DATATYPE when any
# column of the scored DataFrame is a UDT (e.g. the Spark ML vector being scored) and the
# result is written columnar (parquet). The row path works; scoring switches to it.
COLUMNAR_INPUT_CONF = "spark.sql.execution.arrow.pythonUDF.columnarInput.enabled"


def avoid_columnar_udt_input(dataset: DataFrame) -> None:
    """Turn off the columnar Arrow-UDF input path when the dataset carries a UDT column."""
    if any(isinstance(field.dataType, UserDefinedType) for field in dataset.schema.fields):
        dataset.sparkSession.conf.set(COLUMNAR_INPUT_CONF, "false")


def add_scores(
    dataset: DataFrame,
    columns_and_spec: tuple[list[Column], FeatureSpec],
    scorer: Scorer,
    outputs: dict[str, tuple[str, pa.DataType]],
) -> DataFrame:
    """``dataset`` plus one column per entry of outputs ({column: (scorer key, type)})."""
    columns, spec = columns_and_spec
    return add_struct_outputs(dataset, columns, partial(score_batches, spec=spec, scorer=scorer), outputs)


def add_struct_outputs(
    dataset: DataFrame,
    columns: list[Column],
    batches_to_structs: Callable[..., Iterator[pa.Array]],
    outputs: dict[str, tuple[str, pa.DataType]],
) -> DataFrame:
    """``dataset`` plus the outputs of ``batches_to_structs(batches, output_type=...)``,
    a function from tuples of input arrays (one per column) to struct arrays with one
    field per outputs entry ({column: (field, type)})."""
    avoid_columnar_udt_input(dataset)
    struct_type = pa.struct([pa.field(key, dtype) for key, dtype in outputs.values()])

    def score(batches: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        return batches_to_structs(batches, output_type=struct_type)

    udf = F.arrow_udf(score, _spark_type(struct_type))
    scored = dataset.withColumn(_TMP, udf(*columns))
    for column, (key, _) in outputs.items():
        scored = scored.withColumn(column, F.col(_TMP).getField(key))
    return scored.drop(_TMP)


def _spark_type(struct_type: pa.StructType) -> StructType:
    """The UDF's Spark return type; VectorUDT where the Arrow field is a vector struct."""
    return StructType(
        [
            StructField(f.name, VectorUDT() if f.type == VECTOR_ARROW_TYPE else from_arrow_type(f.type))
            for f in struct_type
        ]
    )
