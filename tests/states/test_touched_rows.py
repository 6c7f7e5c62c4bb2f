"""SGD partition results that hold only their touched rows merge to the same state as
whole states (sagespark.states.sgd), for the linear learner and FMs."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.states import FMConfig, FMState, state_from_bytes
from tests.states.test_linear_state import make_state

D = 5_000
FM_CONFIG = FMConfig(predictor="binary_classifier", factors=3, optimizer="adam", mini_batch_size=10, beta1=0.9,
                     beta2=0.999, eps=1e-8, bias_lr=0.05, linear_lr=0.02, factors_lr=0.02, bias_wd=0.0,
                     linear_wd=1e-3, factors_wd=1e-3)  # fmt: skip


def wide_rows(n, seed, columns):
    """n CSR rows of 4 non-zeros drawn from ``columns`` of D; 0/1 labels."""
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(columns, size=(n, 4), replace=True), axis=1)
    dense = np.zeros((n, D))
    np.put_along_axis(dense, indices, rng.normal(size=(n, 4)), axis=1)
    return CSRMatrix.from_dense(dense), (rng.random(n) < 0.5).astype(float)


def linear_start():
    state = make_state(D, models=3)
    state.wt[:] = np.random.default_rng(9).normal(size=state.wt.shape) * 0.01  # the start is not all zeros
    state.m2[:] = 0.5
    return state


def fm_start():
    rng = np.random.default_rng(0)
    return FMState(FM_CONFIG, 0.1, rng.normal(size=D) * 0.01, rng.normal(size=(D, 3)) * 0.1)


PARTITION_COLUMNS = [np.arange(0, 300), np.arange(200, 900), np.arange(4_000, 4_100), np.arange(850, 1_000)]


def partition_states(start):
    """A pass from ``start`` over four partitions touching overlapping column ranges."""
    states = []
    for p, columns in enumerate(PARTITION_COLUMNS):
        x, y = wide_rows(60, p, columns)
        states.append(start.for_partition(p).update(x, None, y))
    return states


@pytest.mark.parametrize("start", [linear_start, fm_start], ids=["linear", "fm"])
def test_touched_row_parts_merge_to_the_whole_state_merge(start):
    begin = start()
    states = partition_states(begin)
    whole = reduce(lambda a, b: a.merge(b), states)
    parts = [state_from_bytes(s.partition_result().to_bytes()) for s in states]
    assert all(p.rows is not None for p in parts)
    shipped = sum(len(s.partition_result().to_bytes()) for s in states)
    assert shipped < 0.2 * sum(len(s.to_bytes()) for s in states)
    # a tree level (two pairs), then the driver's merge, then the start's rows filled in
    tree = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3]))
    completed = reduce(lambda a, b: a.merge(b), parts).completed_from(begin)
    for merged in (completed, tree.completed_from(begin)):
        assert merged.rows is None
        for name in ("wt", "m1", "m2", "touches", "bias") if hasattr(whole, "wt") else ("params", "m1", "m2", "touches", "bias"):
            np.testing.assert_allclose(getattr(merged, name), getattr(whole, name), rtol=1e-13, atol=1e-16)
    # rows no partition touched keep the start's values exactly
    untouched = 3_000
    parameters = "wt" if hasattr(whole, "wt") else "params"
    np.testing.assert_array_equal(getattr(completed, parameters)[untouched], getattr(begin, parameters)[untouched])
    with pytest.raises(ValueError, match="complete it first"):
        states[0].merge(parts[1])


def test_a_part_cannot_train_and_a_state_that_touched_every_row_ships_whole():
    part = partition_states(linear_start())[0].partition_result()
    x, y = wide_rows(5, 0, PARTITION_COLUMNS[0])
    with pytest.raises(ValueError, match="touched rows cannot train"):
        part.update(x, None, y)
    dense = make_state(4).for_partition(0).update(np.ones((10, 4)), None, np.ones(10))
    assert dense.partition_result() is dense
