"""FMState: the merge is the documented average, layouts agree, the state round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.streaming import FMConfig, FMState, state_from_bytes

CONFIG = FMConfig(predictor="binary_classifier", factors=3, optimizer="adam", mini_batch_size=10, beta1=0.9,
                  beta2=0.999, eps=1e-8, bias_lr=0.05, linear_lr=0.02, factors_lr=0.02, bias_wd=0.0,
                  linear_wd=1e-3, factors_wd=1e-3)  # fmt: skip


def start(d=8, seed=0):
    rng = np.random.default_rng(seed)
    return FMState(CONFIG, 0.1, np.zeros(d), rng.normal(size=(d, 3)) * 0.1)


def rows(n, d, columns, seed):
    """n rows whose non-zeros fall only in ``columns``; labels 0/1."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, d))
    x[:, columns] = rng.normal(size=(n, len(columns))) * (rng.random((n, len(columns))) < 0.6)
    return x, (rng.random(n) < 0.5).astype(float), rng.random(n) + 0.5


def test_merge_is_the_touch_weighted_average():
    d = 8
    xa, ya, wa = rows(40, d, [0, 1, 2, 3, 4], seed=1)
    xb, yb, wb = rows(30, d, [3, 4, 5, 6], seed=2)
    a, b = start().update(xa, wa, ya), start().update(xb, wb, yb)
    merged = a.merge(b)
    touch_a, touch_b = (xa != 0).T.astype(float) @ wa, (xb != 0).T.astype(float) @ wb
    for name in ("params", "m1", "m2"):
        mine, theirs = getattr(a, name), getattr(b, name)
        for j in range(d):
            total = touch_a[j] + touch_b[j]
            expected = (touch_a[j] * mine[j] + touch_b[j] * theirs[j]) / total if total else (mine[j] + theirs[j]) / 2
            np.testing.assert_allclose(getattr(merged, name)[j], expected, rtol=1e-12, atol=1e-15)
    share = wa.sum() / (wa.sum() + wb.sum())
    assert merged.bias[0, 0] == pytest.approx(share * a.bias[0, 0] + (1 - share) * b.bias[0, 0], rel=1e-12)
    # a feature one side never saw keeps the other side's learned row; untouched rows keep the start
    np.testing.assert_array_equal(merged.params[5], b.params[5])
    np.testing.assert_array_equal(merged.params[1], a.params[1])
    np.testing.assert_array_equal(merged.params[7], start().params[7])
    assert merged.progressive_loss() == pytest.approx((a.loss_sum + b.loss_sum) / (wa.sum() + wb.sum()))
    assert merged.step == max(a.step, b.step) == 4


def test_sparse_and_dense_batches_train_the_same_state():
    x, y, w = rows(50, 8, [0, 2, 4, 6, 7], seed=3)
    dense, sparse = start().update(x, w, y), start().update(CSRMatrix.from_dense(x), w, y)
    for name in ("params", "m1", "m2", "bias", "touches"):
        np.testing.assert_array_equal(getattr(dense, name), getattr(sparse, name))


def test_round_trip_and_partition_copy():
    x, y, w = rows(25, 8, [0, 1, 2], seed=4)
    state = start().update(x, w, y)
    restored = state_from_bytes(state.to_bytes())
    assert restored.config == CONFIG and restored.step == state.step
    np.testing.assert_array_equal(restored.params, state.params)
    fresh = state.for_partition(3)
    np.testing.assert_array_equal(fresh.m2, state.m2)
    assert fresh.trained_weight == 0 and fresh.touches.sum() == 0 and np.isnan(fresh.progressive_loss())
    solution = state.finalize()
    np.testing.assert_array_equal(solution.factors, state.params[:, 1:])
    assert solution.intercept == state.bias[0, 0]


def test_bad_states_and_inputs_are_clear_errors():
    state = start()
    with pytest.raises(ValueError, match="expected 8 features, found 5"):
        state.update(np.ones((2, 5)), labels=np.zeros(2))
    with pytest.raises(ValueError, match="need labels"):
        state.update(np.ones((2, 8)))
    arrays = state.to_arrays()
    arrays["m1"] = np.zeros((8, 2))
    with pytest.raises(ValueError, match=r"'m1' has shape \(8, 2\), expected \(8, 4\)"):
        FMState.from_arrays(arrays)
    other = FMState(FMConfig(**{**CONFIG.__dict__, "factors_lr": 0.5}), 0.0, np.zeros(8), np.zeros((8, 3)))
    with pytest.raises(ValueError, match="different configurations"):
        state.merge(other)
    with pytest.raises(ValueError, match="solver must be one of"):
        FMConfig(**{**CONFIG.__dict__, "optimizer": "adamW"})
