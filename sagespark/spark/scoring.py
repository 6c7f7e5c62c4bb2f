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
_ROWS = "_sagespark_row_input"


def _needs_row_input(dataset: DataFrame, struct_type: pa.StructType) -> bool:
    """Whether the UDF's plan node holds a UDT column: an output vector or any column of
    ``dataset`` passing through it.

    Spark 4.3 runs an Arrow UDF columnar (ColumnarBatch in and out) whenever its child
    plan is columnar (a parquet scan, a cached DataFrame) and
    ``spark.sql.execution.arrow.pythonUDF.columnarInput.enabled`` is on, its default;
    that path cannot hold UDT columns, so collect, cache, write and most other actions
    then fail with UNSUPPORTED_DATATYPE (show and count happen to work)."""
    return VECTOR_ARROW_TYPE in [f.type for f in struct_type] or any(
        isinstance(field.dataType, UserDefinedType) for field in dataset.schema.fields
    )


def _row_input(dataset: DataFrame) -> tuple[DataFrame, Column]:
    """``dataset`` with a column computed by a non-deterministic expression, for the UDF
    to read (and ignore). The optimizer never inlines a non-deterministic expression into
    its consumer (CollapseProject), so the projection stays below the UDF: the UDF's
    child is a row-based Project and the UDF runs on the row path, for this query only,
    whatever the session's conf says."""
    return dataset.withColumn(_ROWS, F.spark_partition_id()), F.col(_ROWS)


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
    existing = [column for column in outputs if column in dataset.columns]
    if existing:
        raise ValueError(f"output column(s) {existing} already exist in the input (columns: {dataset.columns}); "
                         "set another name with the model's output setter (e.g. setPredictionCol) or drop them")
    struct_type = pa.struct([pa.field(key, dtype) for key, dtype in outputs.values()])
    row_input = _needs_row_input(dataset, struct_type)
    if row_input:
        dataset, barrier = _row_input(dataset)
        columns = [*columns, barrier]

    def score(batches: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        if row_input:
            batches = (arrays[:-1] for arrays in batches)
        return batches_to_structs(batches, output_type=struct_type)

    udf = F.arrow_udf(score, _spark_type(struct_type))
    scored = dataset.withColumn(_TMP, udf(*columns))
    for column, (key, _) in outputs.items():
        scored = scored.withColumn(column, F.col(_TMP).getField(key))
    return scored.drop(_TMP, _ROWS)


def _spark_type(struct_type: pa.StructType) -> StructType:
    """The UDF's Spark return type; VectorUDT where the Arrow field is a vector struct."""
    return StructType(
        [
            StructField(f.name, VectorUDT() if f.type == VECTOR_ARROW_TYPE else from_arrow_type(f.type))
            for f in struct_type
        ]
    )
