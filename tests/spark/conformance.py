"""The conformance suite's registry: every Estimator/Model pair is listed once here and
then passes every check in test_conformance.py (in the spirit of scikit-learn's
check_estimator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from pyspark.ml.evaluation import ClusteringEvaluator, Evaluator

from sagespark.clustering import KMeans
from tests.data import blobs


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[..., Any]  # keyword params -> Estimator
    data: Callable[[], np.ndarray]  # features (rows x d) with structure to learn
    model_arrays: Callable[[Any], np.ndarray]  # what two models must agree on
    grid_param: str  # an Int param for CrossValidator grids
    grid_values: tuple
    evaluator: Callable[[], Evaluator]
    tolerance: float = 1e-6  # on model_arrays across input layouts


CASES = [
    Case(
        name="KMeans",
        make=lambda **kw: KMeans(k=3, seed=11, miniBatchSize=100, **kw),
        data=lambda: blobs(400, d=4, centers=3, seed=5),
        model_arrays=lambda m: np.array(sorted(map(tuple, m.clusterCenters()))),
        grid_param="k",
        grid_values=(2, 3),
        evaluator=lambda: ClusteringEvaluator(),
    ),
]
