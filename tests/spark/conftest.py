"""Fixtures shared by the Spark tests of state-backed stages."""

import pytest

from sagespark import linear_learner
from sagespark.feature import pca, summary_stages
from sagespark.spark import onepass

# the functions that make a pass over the data, by the modules that call them
PASS_RUNNERS = ((onepass, "fold_dataset"), (linear_learner, "fold_dataset"), (summary_stages, "summarizer_moments"),
               (pca, "sql_covariance"))


@pytest.fixture
def count_passes(monkeypatch):
    """A list that gets one entry per data pass of a OnePassEstimator."""
    calls = []
    for module, name in PASS_RUNNERS:
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _f=original, **kw: calls.append(1) or _f(*a, **kw))
    return calls
