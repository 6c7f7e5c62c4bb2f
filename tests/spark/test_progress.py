"""Spark job descriptions name the stage and the pass of every fit's data pass."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

from sagespark.classification import FMClassifier, LinearLearnerClassifier
from sagespark.clustering import KMeans
from sagespark.feature import PCA
from sagespark.spark import fold

DESCRIPTION = "spark.job.description"


@pytest.fixture
def descriptions(spark, monkeypatch):
    """The job description in force whenever a fold's result is collected."""
    seen = []
    collect = fold._collect_arrow

    def recording(df):
        seen.append(spark.sparkContext.getLocalProperty(DESCRIPTION))
        return collect(df)

    monkeypatch.setattr(fold, "_collect_arrow", recording)
    return seen


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
