"""Loading a tampered model folder is a clear error and executes nothing from it:
metadata naming another class (in or outside sagespark), arrays of a dtype that is not
allowed or bytes that do not fill their shape, a pickled payload, missing parts."""

from __future__ import annotations

import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from sagespark.clustering import KMeans, KMeansModel
from sagespark.feature import PCA, PCAModel
from sagespark.spark.persistence import _ARRAYS_SCHEMA
from tests.data import blobs


@pytest.fixture(scope="module")
def saved(spark, tmp_path_factory):
    x = blobs(200, d=3, centers=3, seed=1)
    df = spark.createDataFrame([(r.tolist(),) for r in x], ["features"])
    path = tmp_path_factory.mktemp("models") / "kmeans"
    KMeans(k=3, seed=1).fit(df).write().overwrite().save(str(path))
    return path


@pytest.fixture(scope="module")
def saved_pca(spark, tmp_path_factory):
    x = blobs(100, d=3, centers=2, seed=2)
    df = spark.createDataFrame([(r.tolist(),) for r in x], ["features"])
    path = tmp_path_factory.mktemp("models") / "pca"
    PCA(k=2).fit(df).write().overwrite().save(str(path))
    return path


@pytest.fixture
def copy_of(saved, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def set_class(path: Path, class_name: str) -> None:
    part = next((path / "metadata").glob("part-*"))
    metadata = json.loads(part.read_text())
    metadata["class"] = class_name
    part.write_text(json.dumps(metadata))
    for crc in (path / "metadata").glob(".*.crc"):
        crc.unlink()


def write_arrays(spark, path: Path, rows: list) -> None:
    shutil.rmtree(path / "data")
    spark.createDataFrame(rows, _ARRAYS_SCHEMA).write.parquet(str(path / "data"))


def test_the_untampered_copy_loads(copy_of, saved):
    assert KMeansModel.load(str(copy_of)).clusterCenters() is not None


@pytest.mark.parametrize("class_name", ["sagespark.feature.pca.PCAModel", "os.system"])
def test_metadata_naming_another_class_is_refused(copy_of, class_name):
    set_class(copy_of, class_name)
    with pytest.raises(ValueError, match=f"holds a '{class_name}', not a 'sagespark.clustering.KMeansModel'; "
                                         "nothing was loaded"):  # fmt: skip
        KMeansModel.load(str(copy_of))


def test_loading_with_the_wrong_class_is_refused(saved):
    with pytest.raises(ValueError, match="holds a 'sagespark.clustering.KMeansModel', not a "
                                         "'sagespark.feature.PCAModel'"):  # fmt: skip
        PCAModel.load(str(saved))


def test_an_object_dtype_is_refused(spark, copy_of):
    write_arrays(spark, copy_of, [("state", "|O", [1], 0, pickle.dumps(["x"]))])
    with pytest.raises(ValueError, match="array 'state' in .* has unsupported dtype object"):
        KMeansModel.load(str(copy_of))


def test_bytes_that_do_not_fill_the_shape_are_refused(spark, copy_of):
    write_arrays(spark, copy_of, [("state", "|u1", [100], 0, b"\x00" * 7)])
    with pytest.raises(ValueError, match=r"array 'state' in .*: 7 bytes do not fill shape \[100\] of uint8"):
        KMeansModel.load(str(copy_of))


class _Marker:
    """Unpickling this would create the marker file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_pickled_state_is_never_unpickled(spark, saved_pca, tmp_path):
    """State-backed models keep their state as .npz bytes: an object array in it is refused."""
    target = tmp_path / "pca"
    shutil.copytree(saved_pca, target)
    marker = tmp_path / "executed"
    buffer = io.BytesIO()
    np.savez(buffer, __kind__=np.array("exact_covariance"), gram=np.array([_Marker(str(marker))], dtype=object))
    payload = buffer.getvalue()
    write_arrays(spark, target, [("state", "|u1", [len(payload)], 0, payload)])
    with pytest.raises(ValueError, match="allow_pickle"):
        PCAModel.load(str(target))
    assert not marker.exists()


def test_a_missing_array_is_named(spark, copy_of):
    write_arrays(spark, copy_of, [("centers", "<f8", [1, 3], 0, np.zeros(3).tobytes())])
    with pytest.raises(ValueError, match="lacks 'k', which a KMeansModel saves"):  # the state's first array
        KMeansModel.load(str(copy_of))


@pytest.mark.parametrize("part", ["data", "metadata"])
def test_a_missing_part_is_named(copy_of, part):
    shutil.rmtree(copy_of / part)
    with pytest.raises(ValueError, match=f"cannot read .*{part} \\(not a complete sagespark model\\?\\)"):
        KMeansModel.load(str(copy_of))
