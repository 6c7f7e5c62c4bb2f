"""Select the feature (and weight) columns in the layout the workers decode.

Accepted inputs: a Spark ML vector column (dense, sparse or mixed), an
``array<float|double>`` column, or several numeric columns (``featuresCols``). Vector
columns are unwrapped to their four fields with the null ``indices`` of dense rows
replaced by an empty array, which keeps sparse rows sparse at the cost of
``vector_to_array`` (see sagespark.udfs.arrow).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

from pyspark import StorageLevel
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, NumericType, StringType, StructField

from sagespark.udfs.arrow import (
    CLASS_INDEX_LABELS, HANDLE_INVALID, HOLDOUT, INDICES, LABEL, SIZE, TYPE, VALUES, WEIGHT, FeatureSpec,
)  # fmt: skip


def feature_columns(
    dataset: DataFrame,
    features_col: str,
    features_cols: Sequence[str] | None = None,
    weight_col: str | None = None,
) -> tuple[list[Column], bool, str]:
    """(aliased select expressions in FeatureSpec.fields order, is_vector, display name)."""
    schema = dataset.schema
    if features_cols:
        for name in features_cols:
            require_column(dataset, name)
            if not isinstance(schema[name].dataType, NumericType):
                raise ValueError(
                    f"featuresCols column '{name}' must be numeric, found {schema[name].dataType.simpleString()}"
                )
        values = F.array(*[F.col(c).cast("double") for c in features_cols])
        columns, is_vector, display = [values.alias(VALUES)], False, ", ".join(features_cols)
    else:
        require_column(dataset, features_col)
        data_type = schema[features_col].dataType
        column = F.col(features_col)
        if isinstance(data_type, VectorUDT):
            raw = F.unwrap_udt(column)
            columns = [
                raw.getField("type").alias(TYPE),
                F.coalesce(raw.getField("size"), F.lit(-1)).alias(SIZE),
                F.when(column.isNull(), F.lit(None))
                .otherwise(F.coalesce(raw.getField("indices"), F.array().cast("array<int>")))
                .alias(INDICES),
                raw.getField("values").alias(VALUES),
            ]
            is_vector = True
        elif isinstance(data_type, ArrayType) and isinstance(data_type.elementType, NumericType):
            columns, is_vector = [column.cast("array<double>").alias(VALUES)], False
        else:
            raise ValueError(
                f"column '{features_col}' must be a vector or a numeric array, "
                f"found {data_type.simpleString()}; or set featuresCols to numeric columns"
            )
        display = features_col
    if weight_col:
        require_column(dataset, weight_col)
        columns.append(F.col(weight_col).cast("double").alias(WEIGHT))
    return columns, is_vector, display


def infer_num_features(dataset: DataFrame, features_col: str, is_vector: bool) -> int:
    """The dimension of a vector column from its ML attributes where it has them (what
    VectorAssembler and MLlib's feature stages write; MLlib's MetadataUtils.getNumFeatures
    reads them the same way), else of the first non-null row (one small job)."""
    if is_vector and (size := attribute_size(dataset.schema[features_col])) is not None:
        return size
    column = F.col(features_col)
    size = vector_size(column) if is_vector else F.size(column)
    row = dataset.where(column.isNotNull()).select(size.alias("d")).first()
    if row is None:
        raise ValueError("the dataset has no rows with features")
    return int(row["d"])


def vector_size(column: Column) -> Column:
    """A vector row's dimension: the size field of a sparse row, the values' length of
    a dense one (read from the stored struct, without deserializing the vector)."""
    raw = F.unwrap_udt(column)
    return F.when(raw.getField("type") == 0, raw.getField("size")).otherwise(F.size(raw.getField("values")))


def attribute_size(field: StructField) -> int | None:
    """The size an ML attribute group (the column's "ml_attr" metadata) gives, if any:
    its "num_attrs", else the number of attributes it lists."""
    group = field.metadata.get("ml_attr") or {}
    size = group.get("num_attrs")
    if size is None and group.get("attrs"):
        size = sum(len(attrs) for attrs in group["attrs"].values())
    return int(size) if size else None


def feature_spec(
    dataset: DataFrame,
    features_col: str,
    features_cols: Sequence[str] | None,
    weight_col: str | None,
    handle_invalid: str,
    n_features: int | None = None,
    label_col: str | None = None,
    num_classes: int = 0,
    holdout: tuple[Column, str] | None = None,
) -> tuple[list[Column], FeatureSpec]:
    """Select expressions and the worker-side spec; infers the dimension when not given.

    Supervised stages add ``label_col`` (checked against ``num_classes``: 0 for any
    finite value) and ``holdout``, a boolean expression marking validation rows with
    the name to report for it."""
    columns, is_vector, display = feature_columns(dataset, features_col, features_cols, weight_col)
    if n_features is None:
        n_features = len(features_cols) if features_cols else infer_num_features(dataset, features_col, is_vector)
    columns += supervised_columns(dataset, label_col, holdout)
    spec = FeatureSpec(
        is_vector, int(n_features), display, weight_col or None, handle_invalid,
        label_col or None, num_classes, holdout[1] if holdout is not None else None,
    )  # fmt: skip
    return columns, spec


def supervised_columns(dataset: DataFrame, label_col: str | None, holdout: tuple[Column, str] | None) -> list[Column]:
    """The label (checked numeric) and validation-indicator columns a supervised stage
    adds to its features, as FeatureSpec.fields names them."""
    columns = []
    if label_col:
        require_numeric(dataset, label_col, "label column")
        columns.append(F.col(label_col).cast("double").alias(LABEL))
    if holdout is not None:
        columns.append(holdout[0].cast("boolean").alias(HOLDOUT))
    return columns


def token_spec(dataset: DataFrame, input_col: str, handle_invalid: str, label_col: str | None = None,
               holdout: tuple[Column, str] | None = None) -> tuple[list[Column], FeatureSpec]:  # fmt: skip
    """Select expressions and the worker-side spec of an ``array<string>`` column of
    tokens (MLlib's Tokenizer / RegexTokenizer output): null rows and null tokens are
    invalid input; a row may hold any number of tokens. Text classifiers add
    ``label_col`` (class indices 0, 1, ...) and ``holdout`` (as feature_spec)."""
    require_column(dataset, input_col)
    data_type = dataset.schema[input_col].dataType
    if not (isinstance(data_type, ArrayType) and isinstance(data_type.elementType, StringType)):
        raise ValueError(f"column '{input_col}' must be an array<string> of tokens (e.g. from Tokenizer or "
                         f"RegexTokenizer), found {data_type.simpleString()}")  # fmt: skip
    columns = [F.col(input_col).alias(VALUES), *supervised_columns(dataset, label_col, holdout)]
    spec = FeatureSpec(False, 0, input_col, handle_invalid=handle_invalid, tokens=True, label_column=label_col or None,
                       num_classes=CLASS_INDEX_LABELS if label_col else 0,
                       holdout_column=holdout[1] if holdout is not None else None)  # fmt: skip
    return columns, spec


@contextmanager
def training_rows(dataset: DataFrame, columns: list[str], partitions: int) -> Iterator[DataFrame]:
    """The columns a multi-pass fit reads: repartitioned when ``partitions`` > 0, and
    cached for the fit when the input is not (word2vec reads it 1 + epochs x rounds
    times)."""
    if partitions < 0:
        raise ValueError(f"numPartitions must be >= 0 (0: the input's partitions), got {partitions}")
    rows = dataset.select(*columns)
    if partitions:
        rows = rows.repartition(partitions)
    elif dataset.storageLevel != StorageLevel.NONE:
        yield rows
        return
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield rows
    finally:
        rows.unpersist()


def require_handle_invalid(value: str) -> str:
    """``value`` if it is one of HANDLE_INVALID, else the error that names them."""
    if value not in HANDLE_INVALID:
        raise ValueError(f"handleInvalid must be one of {HANDLE_INVALID}, got {value!r}")
    return value


def require_numeric(dataset: DataFrame, name: str, role: str) -> None:
    """``name`` must be a numeric column of ``dataset`` (the error names its role)."""
    require_column(dataset, name)
    data_type = dataset.schema[name].dataType
    if not isinstance(data_type, NumericType):
        raise ValueError(f"{role} '{name}' must be numeric, found {data_type.simpleString()}")


def require_column(dataset: DataFrame, name: str) -> None:
    """``name`` must be a column of ``dataset`` (the error lists the columns it has)."""
    if name not in dataset.columns:
        raise ValueError(f"column '{name}' not found; the dataset has {dataset.columns}")
