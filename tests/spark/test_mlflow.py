"""MLflow, as teams ship Spark models: a PipelineModel holding MLlib and sagespark stages
logged to a local tracking store with ``mlflow.spark.log_model``, then loaded in a fresh
process through ``mlflow.spark.load_model`` and ``mlflow.pyfunc.load_model`` (pandas in,
predictions out): both give the predictions of the fitted pipeline (docs/mlflow.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
import mlflow.spark  # noqa: E402

_LOAD = """
import json, sys
import pandas as pd
import mlflow, mlflow.pyfunc, mlflow.spark
from sagespark.spark.session import local_session

uri, tracking, data = sys.argv[1:]
spark = local_session("local[1]", driver_memory="1g", shuffle_partitions=2, ui=False, progress=False)
mlflow.set_tracking_uri(tracking)
rows = pd.read_json(data, orient="records")
spark_predictions = mlflow.spark.load_model(uri).transform(spark.createDataFrame(rows)).orderBy("id")
pyfunc_predictions = mlflow.pyfunc.load_model(uri).predict(rows)
print(json.dumps({"spark": [r["prediction"] for r in spark_predictions.select("prediction").collect()],
                  "pyfunc": [float(v) for v in pyfunc_predictions]}))
"""


def test_a_pipeline_with_sagespark_stages_through_mlflow(spark, tmp_path, monkeypatch):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    from sagespark.classification import LinearLearnerClassifier
    from sagespark.feature import StandardScaler

    x = np.random.default_rng(2).normal(size=(200, 3)) * [1.0, 10.0, 100.0]
    rows = [{"id": i, "a": float(r[0]), "b": float(r[1]), "c": float(r[2]),
             "label": float(r[0] + r[1] / 10 > 0)} for i, r in enumerate(x)]  # fmt: skip
    df = spark.createDataFrame(rows).select("id", "a", "b", "c", "label")
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["a", "b", "c"], outputCol="features"),
                                StandardScaler(inputCol="features", outputCol="scaled", withMean=True),
                                LinearLearnerClassifier(featuresCol="scaled", numModels=4, seed=3)])  # fmt: skip
    fitted = pipeline.fit(df)
    expected = [r["prediction"] for r in fitted.transform(df).orderBy("id").select("prediction").collect()]
    # a local folder store (MLflow 3 wants MLFLOW_ALLOW_FILE_STORE for it; a server or a
    # database store needs nothing from sagespark)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    tracking = (tmp_path / "mlruns").as_uri()
    mlflow.set_tracking_uri(tracking)
    with mlflow.start_run() as run:
        mlflow.spark.log_model(fitted, artifact_path="model", dfs_tmpdir=str(tmp_path / "dfs"))
    data = tmp_path / "rows.json"
    data.write_text(json.dumps([{k: v for k, v in r.items() if k != "label"} for r in rows]))
    loaded = subprocess.run([sys.executable, "-c", _LOAD, f"runs:/{run.info.run_id}/model", tracking, str(data)],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    found = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert found["spark"] == expected
    assert found["pyfunc"] == expected
    assert 0 < sum(expected) < len(expected)  # both classes predicted: the check can fail
