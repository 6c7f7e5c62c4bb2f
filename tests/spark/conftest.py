"""Fixtures shared by the Spark tests of state-backed stages."""

import pytest

from sagespark.spark import onepass


@pytest.fixture
def count_passes(monkeypatch):
    """A list that gets one entry per data pass of a OnePassEstimator."""
    calls = []
    original = onepass.fold_dataset
    monkeypatch.setattr(onepass, "fold_dataset", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    return calls
