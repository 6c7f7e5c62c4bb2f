"""Fixtures shared by the Spark tests of state-backed stages."""

import pytest

from sagespark.algorithms import linear, pca, scalers
from sagespark.spark import onepass

FOLDS = ((onepass, "fold_dataset"), (linear, "fold_dataset"))  # each call is a pass
# each call that returns a state is a pass (None: declined, and the Python pass follows)
JVM_STATES = ((scalers, "summarizer_moments"), (pca, "sql_covariance"))


@pytest.fixture
def count_passes(monkeypatch):
    """A list that gets one entry per data pass of a OnePassEstimator."""
    calls = []
    for module, name in FOLDS:
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _f=original, **kw: calls.append(1) or _f(*a, **kw))
    for module, name in JVM_STATES:
        original = getattr(module, name)

        def counted(*a, _f=original, **kw):
            state = _f(*a, **kw)
            if state is not None:
                calls.append(1)
            return state

        monkeypatch.setattr(module, name, counted)
    return calls
