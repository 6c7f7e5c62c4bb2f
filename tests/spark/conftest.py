"""Fixtures shared by the Spark tests of state-backed stages."""

import pytest

from sagespark.spark.progress import recorded_passes


@pytest.fixture
def count_passes():
    """A list that gets one entry (its job description) per data pass of a fit, as
    sagespark records them for users (``sagespark.spark.progress.recorded_passes``)."""
    with recorded_passes() as passes:
        yield passes
