"""Fixtures shared by the Spark tests of state-backed stages."""

import pytest

from sagespark import linear_learner
from sagespark.spark import onepass

PASS_RUNNERS = (onepass, linear_learner)  # the modules that call fold_dataset


@pytest.fixture
def count_passes(monkeypatch):
    """A list that gets one entry per data pass of a OnePassEstimator."""
    calls = []
    for module in PASS_RUNNERS:
        original = module.fold_dataset
        monkeypatch.setattr(module, "fold_dataset", lambda *a, _f=original, **kw: calls.append(1) or _f(*a, **kw))
    return calls
