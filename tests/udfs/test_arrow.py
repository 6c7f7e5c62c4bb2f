"""Decoding Arrow batches laid out as sagespark.spark.features selects them (no JVM)."""

import numpy as np
import pyarrow as pa
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.udfs.arrow import INDICES, SIZE, TYPE, VALUES, WEIGHT, FeatureSpec, decode


def vector_batch(rows):
    """rows: ('d', [values]) | ('s', size, [indices], [values]) | None."""
    types, sizes, indices, values = [], [], [], []
    for row in rows:
        if row is None:
            types.append(None), sizes.append(-1), indices.append(None), values.append(None)
        elif row[0] == "d":
            types.append(1), sizes.append(-1), indices.append([]), values.append(row[1])
        else:
            types.append(0), sizes.append(row[1]), indices.append(row[2]), values.append(row[3])
    return {
        TYPE: pa.array(types, pa.int8()),
        SIZE: pa.array(sizes, pa.int32()),
        INDICES: pa.array(indices, pa.list_(pa.int32())),
        VALUES: pa.array(values, pa.list_(pa.float64())),
    }


VECTOR = FeatureSpec(True, 3, "features")
ARRAY = FeatureSpec(False, 3, "features")


def test_dense_vectors_become_a_zero_copy_matrix():
    out = decode(vector_batch([("d", [1, 2, 3]), ("d", [4, 5, 6])]), VECTOR, 0)
    assert isinstance(out.features, np.ndarray)
    np.testing.assert_array_equal(out.features, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(out.weights, [1.0, 1.0])


def test_mixed_sparse_and_dense_vectors_become_csr():
    out = decode(vector_batch([("s", 3, [2, 0], [7.0, 8.0]), ("d", [1, 2, 3]), ("s", 3, [], [])]), VECTOR, 0)
    assert isinstance(out.features, CSRMatrix)
    np.testing.assert_array_equal(out.features.to_dense(), [[8, 0, 7], [1, 2, 3], [0, 0, 0]])


def test_sliced_arrow_arrays_decode_from_their_offset():
    columns = {k: v.slice(1, 2) for k, v in vector_batch(
        [("d", [0, 0, 0]), ("s", 3, [1], [5.0]), ("d", [1, 2, 3])]).items()}
    np.testing.assert_array_equal(decode(columns, VECTOR, 0).features.to_dense(), [[0, 5, 0], [1, 2, 3]])


def test_array_rows_and_weights():
    columns = {VALUES: pa.array([[1, 2, 3], [4, 5, 6]], pa.list_(pa.float64())), WEIGHT: pa.array([2.0, 0.5])}
    out = decode(columns, FeatureSpec(False, 3, "features", "w"), 0)
    np.testing.assert_array_equal(out.features, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(out.weights, [2.0, 0.5])


BAD_ROWS = [
    ([None, [1.0, 2.0, 3.0]], "column 'features', partition 4: 1 row(s) are null."),
    ([[1.0, 2.0], [1.0, 2.0, 3.0], [1.0]], "column 'features', partition 4: 2 row(s) have dimension 2, expected 3."),
    ([[np.nan, 2.0, 3.0], [1.0, np.inf, 3.0], [1.0, 2.0, 3.0]],
     "column 'features', partition 4: 2 row(s) contain NaN or infinity."),
]  # fmt: skip


@pytest.mark.parametrize("rows, message", BAD_ROWS)
def test_invalid_rows_raise_with_column_partition_and_count(rows, message):
    columns = {VALUES: pa.array(rows, pa.list_(pa.float64()))}
    with pytest.raises(ValueError) as info:
        decode(columns, ARRAY, 4)
    assert info.value.message == message + " Set handleInvalid='skip' to drop such rows and count them."


@pytest.mark.parametrize("rows, message", BAD_ROWS)
def test_invalid_rows_are_skipped_and_counted(rows, message):
    columns = {VALUES: pa.array(rows, pa.list_(pa.float64()))}
    out = decode(columns, FeatureSpec(False, 3, "features", handle_invalid="skip"), 4)
    good = [r for r in rows if r is not None and len(r) == 3 and np.isfinite(r).all()]
    assert out.skipped == len(rows) - len(good)
    np.testing.assert_array_equal(out.features, np.array(good).reshape(-1, 3))


def test_sparse_vector_of_wrong_size_and_bad_weight():
    with pytest.raises(ValueError, match="1 row\\(s\\) have dimension 5, expected 3"):
        decode(vector_batch([("s", 5, [4], [1.0]), ("d", [1, 2, 3])]), VECTOR, 0)
    columns = {VALUES: pa.array([[1, 2, 3]] * 3, pa.list_(pa.float64())), WEIGHT: pa.array([1.0, -1.0, None])}
    with pytest.raises(ValueError) as info:
        decode(columns, FeatureSpec(False, 3, "features", "w"), 2)
    assert info.value.message.startswith(
        "column 'w', partition 2: 2 row(s) have a null, negative, NaN or infinite weight."
    )


def test_score_batches_keeps_rows_aligned_and_nulls_skipped_rows():
    """sagespark.udfs.score: one struct per batch, outputs at the valid rows, null at
    rows rejected under handleInvalid='skip' (a transform never drops rows)."""
    from sagespark.udfs.arrow import VECTOR_ARROW_TYPE
    from sagespark.udfs.score import score_batches

    spec = FeatureSpec(False, 2, "features", handle_invalid="skip")
    values = pa.array([[1.0, 2.0], None, [3.0, float("nan")], [5.0, 6.0]], pa.list_(pa.float64()))
    output = pa.struct([pa.field("total", pa.float64()), pa.field("doubled", VECTOR_ARROW_TYPE)])
    scorer = lambda x: {"total": x.sum(axis=1), "doubled": 2 * x}  # noqa: E731
    (result,) = score_batches([values], spec, scorer, output)
    assert result.field("total").to_pylist() == [3.0, None, None, 11.0]
    doubled = result.field("doubled").to_pylist()
    assert doubled[0]["values"] == [2.0, 4.0] and doubled[3]["values"] == [10.0, 12.0]
    assert doubled[1] is None and doubled[2] is None
