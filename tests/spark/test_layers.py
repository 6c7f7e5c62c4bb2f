"""The layers hold (docs/architecture.md): what a Python worker unpickles and runs (every
fold, merge and scoring function a stage sends, in fit and in transform) loads only the
worker, states and kernels layers, never a family module, the Spark glue or pyspark.ml;
and the worker preload lists only those layers."""

from __future__ import annotations

import json
import subprocess
import sys

import cloudpickle
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sagespark.udfs import daemon
from tests.spark.conformance import CASES
from tests.spark.test_conformance import case_frame

# what a worker must never import
ABOVE_THE_WORKERS = ("sagespark.algorithms", "sagespark.spark", "sagespark.clustering", "sagespark.feature",
                     "sagespark.classification", "sagespark.regression", "sagespark.stat", "pyspark.ml")  # fmt: skip
# A Spark worker has its broadcasts registered before it unpickles a task; here any id
# resolves to a stand-in (pyspark.broadcast itself is on the workers' path anyway).
_UNPICKLE = """
import json, pickle, sys
import pyspark.broadcast
class AnyBroadcast(dict):
    __contains__ = lambda self, key: True
    __getitem__ = lambda self, key: object()
pyspark.broadcast._broadcastRegistry = AnyBroadcast()
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        pickle.load(f)
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_unpickling(paths: list[str]) -> list[str]:
    """sys.modules of a fresh interpreter after unpickling the files at ``paths``."""
    out = subprocess.run([sys.executable, "-c", _UNPICKLE, *paths], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _above(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in ABOVE_THE_WORKERS)]


@pytest.fixture
def shipped_functions(monkeypatch):
    """Every function given to mapInArrow, applyInArrow-style cogroups and Arrow UDFs
    while the fixture is active."""
    shipped = []
    original_map, original_udf = DataFrame.mapInArrow, F.arrow_udf

    def map_in_arrow(self, func, schema, *args, **kwargs):
        shipped.append(func)
        return original_map(self, func, schema, *args, **kwargs)

    def arrow_udf(func=None, returnType=None, *args, **kwargs):
        shipped.append(func)
        return original_udf(func, returnType, *args, **kwargs)

    monkeypatch.setattr(DataFrame, "mapInArrow", map_in_arrow)
    monkeypatch.setattr(F, "arrow_udf", arrow_udf)
    return shipped


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_what_a_stage_ships_to_the_workers_loads_no_family(spark, case, shipped_functions, tmp_path):
    df, _ = case_frame(spark, case)
    model = case.make().fit(df)
    model.transform(df).count()
    assert _above(_modules_of(shipped_functions, tmp_path)) == []


def _modules_of(shipped_functions: list, folder) -> list[str]:
    """sys.modules of a fresh interpreter that unpickled every shipped function."""
    assert shipped_functions, "the fit and transform shipped no function: the capture missed them"
    paths = []
    for i, function in enumerate(shipped_functions):
        path = folder / f"f{i}.pkl"
        path.write_bytes(cloudpickle.dumps(function))
        paths.append(str(path))
    return _modules_after_unpickling(paths)


def test_the_worker_preload_lists_only_worker_and_state_modules():
    assert all(name.startswith(("sagespark.udfs", "sagespark.states", "sagespark.kernels"))
               for name in daemon.WORKER_MODULES)  # fmt: skip
    script = "import sys, json; from sagespark.udfs import daemon; daemon.preload(); print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert _above(json.loads(out.stdout)) == []


def test_what_the_token_stages_ship_to_the_workers_loads_no_family(spark, shipped_functions, tmp_path):
    """The token stages (no vector layout, so not conformance cases): fit and transform."""
    from sagespark.classification import BlazingTextClassifier
    from sagespark.feature import Word2Vec

    df = spark.createDataFrame([(["a", "b", "a", "c"], float(i % 2)) for i in range(20)], "words array<string>, label double")
    Word2Vec(inputCol="words", minCount=1, maxIter=1, vectorSize=4).fit(df).transform(df).count()
    BlazingTextClassifier(minCount=1, maxIter=1, vectorSize=4, buckets=10).fit(df).transform(df).count()
    assert _above(_modules_of(shipped_functions, tmp_path)) == []
