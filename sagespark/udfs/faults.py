"""Test-only fault injection in the fold task, to show that Spark's retries give the same model.

Off unless the Python worker was started with ``SAGESPARK_FAULT_INJECTION=1`` in its
environment (the test suite's local-cluster session sets it through
``spark.executorEnv``): otherwise ``inject`` is ``None`` and the fold loop skips it.

When on, a driver picks the faults of its next jobs with the local property
``sagespark.test.fault`` = ``"<kind>:<partition>[,<kind>:<partition>...]"``
(``SparkContext.setLocalProperty``). Only the first attempt
(TaskContext.attemptNumber() == 0) of each named partition's fold task is hit, after it
folded its first batch:

- ``fail``: raises, so the task fails and Spark retries it;
- ``kill``: the Python worker kills itself with SIGKILL (a crashed worker);
- ``slow``: sleeps ``SLOW_SECONDS``, so a speculative copy has time to start.

Every hit also leaves an empty file ``<kind>-<partition>-<attempt>`` in the folder named
by the local property ``sagespark.test.fault.log`` (when set), so a test can see which
attempts ran.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Callable

from pyspark import TaskContext

ENABLE_VARIABLE = "SAGESPARK_FAULT_INJECTION"
FAULT_PROPERTY = "sagespark.test.fault"
LOG_PROPERTY = "sagespark.test.fault.log"
SLOW_SECONDS = 8.0


def _inject(partition: int) -> None:
    context = TaskContext.get()
    spec = context.getLocalProperty(FAULT_PROPERTY) if context is not None else None
    faults = dict(reversed(item.split(":")) for item in spec.split(",")) if spec else {}
    kind = faults.get(str(partition))
    if kind is None:
        return
    attempt = context.attemptNumber()
    log = context.getLocalProperty(LOG_PROPERTY)
    if log:
        (Path(log) / f"{kind}-{partition}-{attempt}").touch()
    if attempt != 0:
        return
    if kind == "fail":
        raise RuntimeError(f"sagespark injected fault: first attempt of partition {partition} fails")
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "slow":
        time.sleep(SLOW_SECONDS)


inject: Callable[[int], None] | None = _inject if os.environ.get(ENABLE_VARIABLE) == "1" else None
