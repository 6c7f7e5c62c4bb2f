"""The Spark test matrix: one shared session per Spark mode.

Every test that uses ``spark`` runs on ``local[2]``. A test marked ``matrix`` also runs
on ``local-cluster[2,1,1024]`` (separate executor JVMs and Python workers, so closures
and broadcasts really travel) and on Spark Connect (an embedded local Connect server).
Each run is marked with its mode (``local``, ``local_cluster``, ``connect``), so
``pytest -m connect`` selects one mode. The runs are ordered by mode and pytest finishes
every test of one mode before it starts the next session; Connect goes last because
pyspark marks the whole process as a Connect client once it has started one.
``--spark-mode=MODE`` runs every Spark test in that one mode instead (the whole suite on
Connect, say; some tests use classic-only APIs such as ``df.rdd`` and fail there).
"""

from __future__ import annotations

import pytest

MODES = ("local", "local-cluster", "connect")
MODE_MARKERS = {mode: mode.replace("-", "_") for mode in MODES}

# repartitionByRange samples its bounds with a seed taken from the RDD id, so the same
# data splits differently from run to run; sampling every row of these small test sets
# makes the bounds, and so every fit, the same in every process.
EXACT_RANGE_BOUNDS = {"spark.sql.execution.rangeExchange.sampleSizePerPartition": "1000000"}

# The test JVMs live for minutes and run thousands of tiny jobs: C2 compilation and G1's
# concurrent threads cost more CPU than they save there. C1 only and the serial collector
# made a sample of the suite 14% faster on 2 cores (86.8 s -> 74.9 s).
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
TEST_CONF = {
    **EXACT_RANGE_BOUNDS,
    # no UI server or console progress bar in the test JVMs (users get both by default)
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # a worker that raised is replaced by a fork that already holds sagespark's modules
    "spark.python.daemon.module": "sagespark.udfs.daemon",
    # the tests' queries are tiny and each new plan's Java code generation costs more CPU
    # than it saves (a sample: 74.9 s -> 68.6 s with the preloading daemon)
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.driver.extraJavaOptions": SHORT_LIVED_JVM,
    "spark.executor.extraJavaOptions": SHORT_LIVED_JVM,
}

# local-cluster: a task may fail once (the fault-injection tests count on exactly one
# retry), and the Python workers may run sagespark's test-only fault hook.
CLUSTER_CONF = {
    **TEST_CONF,
    "spark.task.maxFailures": "2",
    "spark.executorEnv.SAGESPARK_FAULT_INJECTION": "1",
}


def pytest_addoption(parser):
    parser.addoption(
        "--spark-mode", choices=MODES, default=None,
        help="run every Spark test in this one mode instead of the matrix (e.g. the whole suite on connect)",
    )  # fmt: skip


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "matrix(modes=MODES): run in these modes (default all three) instead of local only"
    )
    config.addinivalue_line("markers", "notebook: executes a notebook in a fresh kernel (tests/test_notebooks.py)")
    for mode, marker in MODE_MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: the run of a test in {mode} mode")


def pytest_generate_tests(metafunc):
    if "spark" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("matrix")
        modes = MODES[:1] if marker is None else marker.kwargs.get("modes", MODES)
        forced = metafunc.config.getoption("--spark-mode")
        metafunc.parametrize("spark", [forced] if forced else modes, indirect=True, scope="session")


def pytest_itemcollected(item):
    item.add_marker(MODE_MARKERS[_mode(item)])  # before -m selects


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: MODES.index(_mode(item)))  # stable: pytest's grouping is kept


def _mode(item) -> str:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("spark", "local") if callspec else "local"


@pytest.fixture(scope="session")
def spark(request):
    """The session of this test's mode (parametrized by pytest_generate_tests)."""
    from sagespark.spark.session import local_session

    mode = getattr(request, "param", "local")
    if mode == "connect":
        session = local_session(
            "local[2]", driver_memory="2g", shuffle_partitions=4, conf=TEST_CONF, connect=True
        )
    elif mode == "local-cluster":
        session = local_session(
            "local-cluster[2,1,1024]", driver_memory="2g", shuffle_partitions=4, conf=CLUSTER_CONF
        )
    else:
        session = local_session("local[2]", driver_memory="2g", shuffle_partitions=4, conf=TEST_CONF)
    yield session
    session.stop()
