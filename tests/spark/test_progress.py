"""Spark job descriptions name the stage and the pass of every fit's data pass, and
every model's summary reports its passes and the wall seconds of each phase."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

from sagespark.classification import FMClassifier, LinearLearnerClassifier
from sagespark.clustering import KMeans
from sagespark.feature import PCA, StandardScaler
from sagespark.regression import LinearLearnerRegressor
from sagespark.algorithms import pca, scalers
from sagespark.spark import fold, onepass

# passes served by Spark's own aggregates (sagespark.spark.jvm_states), where the stages call them
JVM_STATES = ((scalers, "summarizer_moments"), (pca, "sql_covariance"))

DESCRIPTION = "spark.job.description"


@pytest.fixture
def collects(spark, monkeypatch):
    """(job description in force, wall seconds, whether a fold's pass) of every
    collection: a fold's result or the SGD learners' scaler sample."""
    seen = []

    def jvm_recorder(compute):
        def recording(*args, **kwargs):
            description = spark.sparkContext.getLocalProperty(DESCRIPTION)
            start = time.perf_counter()
            state = compute(*args, **kwargs)
            seen.append((description, time.perf_counter() - start, state is not None))
            return state

        return recording

    def recorder(collect, is_pass):
        def recording(df):
            description = spark.sparkContext.getLocalProperty(DESCRIPTION)
            start = time.perf_counter()
            try:
                return collect(df)
            finally:
                seen.append((description, time.perf_counter() - start, is_pass))

        return recording

    monkeypatch.setattr(fold, "collect_arrow", recorder(fold.collect_arrow, True))
    monkeypatch.setattr(onepass, "collect_arrow", recorder(onepass.collect_arrow, False))
    for module, name in JVM_STATES:  # a pass served by Spark's own aggregates (jvm_states)
        monkeypatch.setattr(module, name, jvm_recorder(getattr(module, name)))
    return seen


@pytest.fixture
def descriptions(collects):
    """The job description in force whenever a fold's result is collected."""

    class Descriptions:
        def __getitem__(self, index):
            return [description for description, _, is_pass in collects if is_pass][index]

    return Descriptions()


def test_each_pass_is_named_and_the_callers_description_comes_back(spark, descriptions):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    df = spark.createDataFrame([(Vectors.dense(r), float(r[0] > 0)) for r in x], ["features", "label"]).cache()
    spark.sparkContext.setJobDescription("my job")
    try:
        KMeans(k=2, seed=1).fit(df)
        PCA(k=2, inputCol="features").fit(df)
        FMClassifier(maxIter=2, factorSize=2, seed=1).fit(df)
        LinearLearnerClassifier(epochs=2, earlyStoppingPatience=5, seed=1).fit(df)
        assert spark.sparkContext.getLocalProperty(DESCRIPTION) == "my job"
    finally:
        spark.sparkContext.setJobDescription(None)
    assert descriptions[:4] == [
        "sagespark KMeans: pass 1/1",
        "sagespark PCA: pass 1/1",
        "sagespark FMClassifier: pass 1/2",
        "sagespark FMClassifier: pass 2/2",
    ]
    assert descriptions[4] == "sagespark LinearLearnerClassifier: pass 1/2"
    assert set(descriptions[5:]) <= {"sagespark LinearLearnerClassifier: pass 2/2"}


@pytest.mark.parametrize(
    "make",
    [
        lambda: KMeans(k=2, seed=1, epochs=2),
        lambda: PCA(k=2, inputCol="features"),
        lambda: StandardScaler(inputCol="features", outputCol="scaled"),
        lambda: FMClassifier(maxIter=3, factorSize=2, seed=1),
        lambda: LinearLearnerClassifier(epochs=4, earlyStoppingPatience=5, seed=1),
        lambda: LinearLearnerRegressor(solver="exact"),
    ],
    ids=["KMeans", "PCA", "StandardScaler", "FMClassifier", "LinearLearnerClassifier", "LinearLearnerRegressor"],
)
def test_summary_counts_the_passes_and_times_each_phase(spark, collects, make, tmp_path):
    """numPasses is the number of fold collections the fit made; the fold phase is their
    wall time (measured around each collection, here), merge and finalize are driver
    time, and the phases add up to no more than the fit's wall time. The summary is saved
    with the model; a continued fit counts the rows of both fits and the passes of its own."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 3))
    df = spark.createDataFrame([(Vectors.dense(r), float(r[0] > 0)) for r in x], ["features", "label"]).cache()
    df.count()
    start = time.perf_counter()
    model = make().fit(df)
    wall = time.perf_counter() - start
    passes = [seconds for _, seconds, is_pass in collects if is_pass]
    others = [seconds for _, seconds, is_pass in collects if not is_pass]
    summary = model.summary
    assert summary.numRows == 300 and summary.numRowsSkipped == 0
    assert summary.numPasses == len(passes) >= 1
    phases = summary.phaseSeconds
    assert set(phases) - {"sample"} == {"fold", "merge", "finalize"} and min(phases.values()) >= 0
    assert phases["fold"] == pytest.approx(sum(passes), abs=0.05)
    assert phases.get("sample", 0.0) == pytest.approx(sum(others), abs=0.05)  # the SGD learners' scaler sample
    assert sum(phases.values()) <= wall
    if hasattr(summary, "numEpochs"):
        assert summary.numEpochs == summary.numPasses
        assert len(summary.objectiveHistory) in (0, summary.numPasses)  # the exact solver has no epochs

    model.write().save(str(tmp_path / "model"))
    loaded = type(model).load(str(tmp_path / "model"))
    assert (loaded.summary.numPasses, loaded.summary.phaseSeconds) == (summary.numPasses, phases)

    collects.clear()
    continued = make().setInitialModel(model).fit(df)
    passes = [description for description, _, is_pass in collects if is_pass]
    assert continued.summary.numRows == 600 and continued.summary.numPasses == len(passes)


def test_recorded_passes_count_a_cross_validators_scans(spark):
    """A CrossValidator over k (3 values, 2 folds, 2 threads) scans the data once per fold
    plus once for the refit on all rows: 3 passes where one fit per setting would make
    2 x 3 + 1 = 7."""
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    from sagespark.spark.progress import recorded_passes

    rng = np.random.default_rng(5)
    df = spark.createDataFrame([(Vectors.dense(r),) for r in rng.normal(size=(300, 2))], ["features"]).cache()
    kmeans = KMeans(seed=1)
    grid = ParamGridBuilder().addGrid(kmeans.k, [2, 3, 4]).build()
    cv = CrossValidator(estimator=kmeans, estimatorParamMaps=grid, evaluator=ClusteringEvaluator(),
                        numFolds=2, parallelism=2, seed=1)  # fmt: skip
    with recorded_passes() as passes:
        cv.fit(df)
    assert passes == ["sagespark KMeans: pass 1/1"] * 3
