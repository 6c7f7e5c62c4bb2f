"""Models saved by an earlier version keep loading and scoring the same.

tests/spark/saved_models/<name>.json holds one saved model folder per public Model
class (and a PipelineModel of two of them), as written by the code of commit 337793c,
before the family modules moved: every file of the folder (base64), the rows it was
given and the output columns it produced then. Loading that folder with today's code
must give the same outputs (1e-12). ``python -m tests.spark.test_saved_models`` writes
the files that are missing; never rewrite one that exists. The token stages' folders
(saved_models/tokens/, written by ``write_token_model``) are checked by their own test
modules.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import DenseVector, Vectors, VectorUDT
from pyspark.sql.types import DoubleType, StructField, StructType

from tests.spark.conformance import CASES

SAVED = Path(__file__).parent / "saved_models"
ROWS = 120
_SCHEMA = StructType([StructField("features", VectorUDT()), StructField("label", DoubleType())])


def _cases() -> dict:
    """name -> (estimator, features, labels) of every saved model."""
    from sagespark.feature import PCA, QuantileDiscretizer, StandardScaler

    made = {}
    for case in CASES:
        x = np.round(case.data()[:ROWS] * 64) / 64
        made[case.name] = (case.make(), x, case.labels(x) if case.labels else np.zeros(len(x)))
    x = made["StandardScaler"][1]
    made["QuantileDiscretizer"] = (QuantileDiscretizer(inputCol="label", outputCol="bucket", numBuckets=4), x, x[:, 0])
    pipeline = Pipeline(stages=[StandardScaler(inputCol="features", outputCol="scaled"),
                                PCA(k=2, inputCol="scaled", outputCol="pca")])  # fmt: skip
    made["Pipeline-StandardScaler-PCA"] = (pipeline, x, np.zeros(len(x)))
    return made


def _frame(spark, x: np.ndarray, labels: np.ndarray):
    rows = [(Vectors.dense(r), float(y)) for r, y in zip(x, labels)]
    return spark.createDataFrame(rows, _SCHEMA).coalesce(1)


def _outputs(model, df) -> dict[str, list]:
    """The columns the model adds, as lists of floats or of float lists, in row order."""
    out = model.transform(df)
    added = [c for c in out.columns if c not in df.columns]
    rows = out.select(*[vector_to_array(c).alias(c) if isinstance(out.schema[c].dataType, VectorUDT) else c
                        for c in added]).collect()  # fmt: skip
    return {c: [_plain(r[c]) for r in rows] for c in added}


def _plain(value):
    if isinstance(value, DenseVector):
        value = value.toArray()
    return [float(v) for v in value] if isinstance(value, (list, np.ndarray)) else value


def folder_files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): base64.b64encode(p.read_bytes()).decode()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def unpack(files: dict[str, str], folder: Path) -> None:
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))


def _assert_same(found: dict, expected: dict) -> None:
    assert sorted(found) == sorted(expected)
    for column, values in expected.items():
        np.testing.assert_allclose(np.array(found[column], dtype=float), np.array(values, dtype=float),
                                   rtol=1e-12, atol=1e-12, err_msg=column)  # fmt: skip


@pytest.mark.parametrize("name", sorted(p.stem for p in SAVED.glob("*.json")))
def test_a_model_saved_before_loads_and_scores_the_same(spark, name, tmp_path):
    saved = json.loads((SAVED / f"{name}.json").read_text())
    unpack(saved["files"], tmp_path / "model")
    loader = PipelineModel if saved["class"] == "PipelineModel" else _class(saved["class"])
    model = loader.load(str(tmp_path / "model"))
    df = _frame(spark, np.array(saved["features"]), np.array(saved["labels"]))
    _assert_same(_outputs(model, df), saved["outputs"])


def write_token_model(target: Path, model, df, column: str) -> None:
    """A saved folder of a token stage's model (no vector layout: not a case above) with
    the rows of ``df`` (one ``words`` column) and what ``column`` of its transform was."""
    import tempfile

    outputs = [r[0] for r in model.transform(df).select(vector_to_array(column)).collect()]
    with tempfile.TemporaryDirectory() as folder:
        model.write().save(f"{folder}/model")
        files = folder_files(Path(folder) / "model")
    sentences = [r[0] for r in df.select("words").collect()]
    target.write_text(json.dumps({"sentences": sentences, "outputs": outputs, "files": files}, indent=0) + "\n")


def assert_token_model_loads(spark, target: Path, model_class: type, column: str, folder: Path) -> None:
    """The folder ``write_token_model`` saved loads and transforms its rows the same (1e-12)."""
    saved = json.loads(target.read_text())
    unpack(saved["files"], folder)
    model = model_class.load(str(folder))
    df = spark.createDataFrame([(words,) for words in saved["sentences"]], "words array<string>")
    found = [r[0] for r in model.transform(df).select(vector_to_array(column)).collect()]
    np.testing.assert_allclose(np.array(found), np.array(saved["outputs"]), rtol=1e-12, atol=1e-12)


def _class(path: str) -> type:
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def test_every_saved_model_class_has_a_folder():
    """Every case of the conformance registry (one per public Model class) is saved here."""
    assert {c.name for c in CASES} <= {p.stem for p in SAVED.glob("*.json")}


def _write_missing() -> None:
    import tempfile

    from sagespark.spark.session import local_session

    spark = local_session("local[2]", driver_memory="2g", shuffle_partitions=4)
    SAVED.mkdir(exist_ok=True)
    for name, (estimator, x, labels) in _cases().items():
        target = SAVED / f"{name}.json"
        if target.exists():
            continue
        df = _frame(spark, x, labels)
        model = estimator.fit(df)
        with tempfile.TemporaryDirectory() as folder:
            model.write().save(f"{folder}/model")
            files = folder_files(Path(folder) / "model")
        cls = "PipelineModel" if isinstance(model, PipelineModel) else f"{type(model).__module__}.{type(model).__name__}"
        saved = {"class": cls, "features": x.tolist(), "labels": [float(v) for v in labels],
                 "outputs": _outputs(model, df), "files": files}  # fmt: skip
        target.write_text(json.dumps(saved, indent=0) + "\n")
        print("wrote", target)
    spark.stop()


if __name__ == "__main__":
    _write_missing()
