"""FMState: the merge is the documented average, layouts agree, the state round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.states import FMConfig, FMState, state_from_bytes

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


def test_normalized_training_is_returned_on_raw_features_and_labels():
    """A state with feature scales and a standardized label trains on x_j s_j and
    (y - shift) / scale: it equals a plain state trained on those rows, and its solution
    scores the raw rows as scale * (the plain state's scores) + shift (the pairwise
    term by the explicit sum over pairs)."""
    import dataclasses

    config = dataclasses.replace(CONFIG, predictor="regressor")
    d, rng = 6, np.random.default_rng(4)
    x = rng.normal(size=(80, d)) * np.array([1.0, 100.0, 0.01, 5.0, 1.0, 1000.0])
    y = x @ rng.normal(size=d) * 0.01 + 150.0
    s, shift, scale = 1.0 / np.abs(x).mean(axis=0), 150.0, 7.0
    factors = rng.normal(size=(d, 3)) * 0.1
    normalized = FMState(config, 0.0, np.zeros(d), factors, s, shift, scale).update(x, None, y)
    plain = FMState(config, 0.0, np.zeros(d), factors).update(x * s, None, (y - shift) / scale)
    np.testing.assert_allclose(normalized.params, plain.params, rtol=1e-12)
    solution, inner = normalized.finalize(), plain.finalize()

    def scores(sol, rows):
        pairs = sum((sol.factors[i] @ sol.factors[j]) * rows[:, i] * rows[:, j] for i in range(d) for j in range(i + 1, d))
        return sol.intercept + rows @ sol.linear + pairs

    np.testing.assert_allclose(scores(solution, x), scale * scores(inner, x * s) + shift, rtol=1e-10)
    again = state_from_bytes(normalized.to_bytes())
    np.testing.assert_array_equal(again.inv_scale, s)
    assert (again.label_shift, again.label_scale) == (shift, scale)


def test_held_out_rows_are_scored_and_never_trained_on():
    """With holdout_fraction, the held-out rows' loss is measured with the parameters of
    the moment and the parameters equal a state trained on the other rows alone."""
    import dataclasses

    from sagespark.states.sgd import held_out_rows

    config = dataclasses.replace(CONFIG, holdout_fraction=0.3, seed=5)
    x, y, w = rows(60, 8, [0, 1, 2, 3, 4, 5], seed=6)
    held = held_out_rows(60, None, 0.3, 5, 0, 0)
    assert 0 < held.sum() < 60
    state = FMState(config, 0.1, np.zeros(8), start().params[:, 1:]).update(x, w, y)
    alone = start().update(x[~held], w[~held], y[~held])
    np.testing.assert_allclose(state.params, alone.params, rtol=1e-12)
    before = start().finalize()
    p = 1 / (1 + np.exp(-(before.intercept + x[held] @ before.linear
                          + 0.5 * (((x[held] @ before.factors) ** 2) - (x[held] ** 2) @ (before.factors ** 2)).sum(axis=1))))  # fmt: skip
    expected = -(w[held] * (y[held] * np.log(p) + (1 - y[held]) * np.log(1 - p))).sum() / w[held].sum()
    assert state.validation_loss() == pytest.approx(expected, rel=1e-10)
    assert state.selection_loss() == state.validation_loss()


def test_a_state_saved_before_normalization_and_holdout_loads_unscaled():
    """Arrays written before the scales, the curve and the held-out sums existed load as
    an unnormalized state with an empty curve, and train as a fresh state would."""
    x, y, w = rows(40, 8, [0, 1, 2, 3], seed=9)
    old = {k: v for k, v in start().to_arrays().items()
           if k not in ("inv_scale", "curve", "curve_sq", "curve_weight", "curve_width", "label_shift", "label_scale",
                        "val_loss_sum", "val_weight", "stream", "batches", "config_holdout_fraction", "config_seed")}  # fmt: skip
    loaded = FMState.from_arrays(old)
    np.testing.assert_array_equal(loaded.inv_scale, np.ones(8))
    assert (loaded.label_shift, loaded.label_scale, loaded.config.holdout_fraction) == (0.0, 1.0, 0.0)
    np.testing.assert_array_equal(loaded.update(x, w, y).params, start().update(x, w, y).params)
