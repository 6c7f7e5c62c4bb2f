"""The notebooks run top to bottom on a fresh kernel, on small data, and are committed
without outputs. Each ends with a check cell that compares its result with a reference
(MLlib's models, an exhaustive threshold scan, an exact refit, the Frequent Directions
bound), so running it is a test, not a smoke run."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from tests.conftest import SHORT_LIVED_JVM

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
IDS = [path.stem for path in NOTEBOOKS]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) == 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} cell {index} has outputs"


@pytest.fixture(scope="module")
def kernel():
    """One kernel for all the notebooks, so they share one Spark session (``local_session``
    returns the active one): a JVM start-up per notebook cost more than a notebook's work
    on small data. Each notebook still starts from an empty namespace (``%reset -f``)."""
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "SAGESPARK_NOTEBOOK_SCALE": "small", "MPLBACKEND": "Agg",
           "JAVA_TOOL_OPTIONS": SHORT_LIVED_JVM}  # the notebooks' Spark, as the suite's (conftest)  # fmt: skip
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    yield manager
    client.stop_channels()
    manager.shutdown_kernel(now=True)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_runs_top_to_bottom(path, tmp_path, kernel):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(f"%reset -f\n%cd {tmp_path}"))
    NotebookClient(notebook, km=kernel, timeout=600).execute()
