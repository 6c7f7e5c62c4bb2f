"""LinearLearnerState and ExactLeastSquares against exact references (no JVM)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sagespark.kernels import CSRMatrix
from sagespark.states import state_from_bytes
from sagespark.states.linear import (
    ExactLeastSquares,
    LinearLearnerState,
    Normalization,
    TrainingConfig,
    binary_criterion,
    normalization_from_sample,
    packed_hyperparameters,
)


def make_state(d, predictor="binary_classifier", loss="logistic", models=1, classes=1, lr=0.05, wd=0.0, l1=0.0,
               batch=100, optimizer="adam", lr_step=20, lr_factor=0.9, has_validation=False, holdout=0.0,
               norm=None, parameter=1.0):  # fmt: skip
    config = TrainingConfig(predictor, loss, parameter, classes, optimizer, 0.9, 0.999, 1e-8, batch, True, lr_step,
                            lr_factor, 1e-5, holdout, has_validation, 7)  # fmt: skip
    norm = norm or Normalization(np.zeros(d), np.ones(d), False, 0.0, 1.0, np.ones(max(classes, 2)))
    lrs, wds, l1s = packed_hyperparameters(models, lr, wd, l1)
    outputs = models * classes
    return LinearLearnerState(config, norm, lrs, wds, l1s, np.zeros((d, outputs)), np.zeros(outputs))


def train(state, x, y, epochs, weights=None):
    for _ in range(epochs):
        state.reset_metrics().update(x, weights, y)
    return state


def logistic_data(n=2000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    beta = np.linspace(-1.5, 1.5, d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ beta + 0.4)))).astype(float)
    return x, y


def test_squared_loss_reaches_the_least_squares_solution():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 5))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 4.0 + rng.normal(scale=0.5, size=3000)
    state = train(make_state(5, "regressor", "squared", lr=0.05, lr_step=100, lr_factor=0.7), x, y, 30)
    coefficients, intercepts = state.finalize().coefficients[0], state.finalize().intercepts[0]
    design = np.column_stack([x, np.ones(len(x))])
    exact = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(np.append(coefficients, intercepts), exact, atol=2e-3)


def test_logistic_matches_scikit_learn_with_the_same_l2():
    x, y = logistic_data()
    c = 0.5  # sklearn: C sum loss + |w|^2 / 2  <=>  mean loss + wd/2 |w|^2 with wd = 1 / (C n)
    reference = LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(x, y)
    state = train(make_state(4, wd=1 / (c * len(x)), lr=0.05, lr_step=20, lr_factor=0.8), x, y, 40)
    solution = state.finalize("loss_function")
    np.testing.assert_allclose(solution.coefficients[0], reference.coef_[0], atol=5e-3)
    np.testing.assert_allclose(solution.intercepts[0], reference.intercept_[0], atol=5e-3)

    def log_loss(w, b):
        s = x @ w + b
        return np.mean(np.logaddexp(0, s) - y * s)

    ours, theirs = log_loss(solution.coefficients[0], solution.intercepts[0]), log_loss(reference.coef_[0], reference.intercept_[0])
    assert abs(ours - theirs) / theirs < 1e-4


def test_multiclass_accuracy_matches_scikit_learn():
    rng = np.random.default_rng(2)
    centers = rng.normal(scale=3.0, size=(4, 6))
    labels = rng.integers(0, 4, 3000)
    x = centers[labels] + rng.normal(size=(3000, 6))
    state = train(make_state(6, "multiclass_classifier", "softmax", classes=4, lr=0.05), x, labels.astype(float), 10)
    solution = state.finalize("accuracy")
    ours = np.mean((x @ solution.coefficients.T + solution.intercepts).argmax(axis=1) == labels)
    theirs = LogisticRegression(max_iter=5000).fit(x, labels).score(x, labels)
    assert ours >= theirs - 0.005, (ours, theirs)


@pytest.mark.parametrize("loss, parameter", [("absolute", 0.0), ("huber", 0.5), ("quantile", 0.5),
                                             ("eps_absolute", 0.05)])  # fmt: skip
def test_robust_losses_estimate_the_conditional_median(loss, parameter):
    """Symmetric noise: every robust loss's minimizer is the line itself, while a few
    huge outliers pull least squares away."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 2))
    y = x @ np.array([2.0, -1.0]) + 1.0 + rng.laplace(scale=0.3, size=4000)
    y[:40] += 500.0
    norm = Normalization(np.zeros(2), np.ones(2), False, 0.0, 1.0, np.ones(2))
    state = train(make_state(2, "regressor", loss, lr=0.05, lr_step=40, lr_factor=0.7, norm=norm, parameter=parameter),
                  x, y, 30)  # fmt: skip
    solution = state.finalize()
    np.testing.assert_allclose(np.append(solution.coefficients[0], solution.intercepts[0]), [2.0, -1.0, 1.0], atol=0.05)


def test_selection_picks_the_model_with_the_lowest_validation_loss():
    """Packed models with learning rates 1e-5 .. 0.3: on a quick problem the tiny rates
    cannot move in one pass, so selection must not pick model 0 (lr = 1e-5 here)."""
    x, y = logistic_data(n=3000)
    state = make_state(4, models=6, lr=1e-5)
    state.lr = np.array([1e-5, 1e-4, 0.03, 0.1, 1e-3, 3e-5])
    train(state, x, y, 1)
    solution = state.finalize("loss_function")
    losses = solution.metrics.loss
    assert solution.selected == int(np.argmin(losses))
    assert solution.selected in (2, 3)


def test_threshold_calibration_hits_the_target_recall_on_held_out_rows():
    x, y = logistic_data(n=20000, seed=4)
    state = train(make_state(4, has_validation=True, holdout=0.5), x, y, 3)
    solution = state.finalize("precision_at_target_recall", target_recall=0.9)
    held_out_x, held_out_y = logistic_data(n=20000, seed=6)
    p = 1 / (1 + np.exp(-(held_out_x @ solution.coefficients[0] + solution.intercepts[0])))
    recall = np.mean(p[held_out_y == 1] >= solution.threshold)
    assert abs(recall - 0.9) < 0.01, recall  # histogram resolution 1e-3 in p plus sampling noise


def test_binary_criterion_on_a_hand_worked_histogram():
    # 4 bins of sigmoid(score): negatives in bins 0,1,1,2; positives in bins 1,2,3,3
    histogram = np.zeros((1, 2, 4))
    histogram[0, 0] = [1, 2, 1, 0]
    histogram[0, 1] = [0, 1, 1, 2]
    value, threshold, accuracy = binary_criterion(histogram, "accuracy", 1.0, 0.8, 0.8)
    # edges 0..4 -> accuracy 4/8, 5/8, 6/8, 6/8, 4/8: the middle of the best edges {2, 3} is 3 (t = 0.75)
    assert value[0] == pytest.approx(6 / 8) and threshold[0] == pytest.approx(0.75)
    value, threshold, _ = binary_criterion(histogram, "recall_at_target_precision", 1.0, 0.8, 0.75)
    # precision >= 0.75 at edges 2 (3/4, recall 3/4) and 3 (1, recall 1/2): recall 3/4 at t = 0.5
    assert value[0] == pytest.approx(0.75) and threshold[0] == pytest.approx(0.5)
    value, threshold, _ = binary_criterion(histogram, "f_beta", 1.0, 0.8, 0.8)
    # F1 at edges 0..3: 8/12, 8/11, 6/8, 4/6 -> edge 2
    assert value[0] == pytest.approx(0.75) and threshold[0] == pytest.approx(0.5)


def test_merge_averages_parameters_by_rows_trained_and_adds_metrics():
    x, y = logistic_data(n=900)
    a = make_state(4, models=3).for_partition(0).update(x[:300], None, y[:300])
    b = make_state(4, models=3).for_partition(1).update(x[300:], None, y[300:])
    merged = a.merge(b)
    np.testing.assert_allclose(merged.wt, (300 * a.wt + 600 * b.wt) / 900)
    np.testing.assert_allclose(merged.m2, (300 * a.m2 + 600 * b.m2) / 900)
    np.testing.assert_allclose(merged.sel_loss, a.sel_loss + b.sel_loss)
    assert merged.trained_weight == 900 and merged.step == max(a.step, b.step)
    np.testing.assert_allclose(b.merge(a).wt, merged.wt)
    np.testing.assert_array_equal(state_from_bytes(merged.to_bytes()).wt, merged.wt)


def test_sparse_rows_train_like_dense_rows():
    x, y = logistic_data(n=1000)
    x[np.abs(x) < 0.7] = 0.0
    norm = Normalization(np.zeros(4), 1 / x.std(axis=0), False, 0.0, 1.0, np.ones(2))
    dense = train(make_state(4, models=2, norm=norm), x, y, 2)
    sparse = train(make_state(4, models=2, norm=norm), CSRMatrix.from_dense(x), y, 2)
    np.testing.assert_allclose(sparse.wt, dense.wt, atol=1e-12)
    np.testing.assert_allclose(sparse.sel_loss, dense.sel_loss, rtol=1e-12)


def test_centring_is_exact_for_csr_batches():
    x, y = logistic_data(n=600)
    x += 3.0
    norm = normalization_from_sample(x, y, np.ones(len(y)), "binary_classifier", 1, True, "auto", False, 1.0, False)
    assert norm.centred
    dense = train(make_state(4, norm=norm), x, y, 2)
    sparse = train(make_state(4, norm=norm), CSRMatrix.from_dense(x), y, 2)
    np.testing.assert_allclose(sparse.wt, dense.wt, atol=1e-12)
    centred = (x - norm.mu) * norm.inv_scale
    plain = train(make_state(4), centred, y, 2)
    np.testing.assert_allclose(dense.wt, plain.wt, atol=1e-10)


def test_sparse_data_is_scaled_not_centred_and_weights_return_to_the_raw_space():
    rng = np.random.default_rng(8)
    x = np.where(rng.random((500, 6)) < 0.1, rng.normal(2.0, 3.0, (500, 6)), 0.0)
    y = rng.integers(0, 2, 500).astype(float)
    norm = normalization_from_sample(CSRMatrix.from_dense(x), y, np.ones(500), "binary_classifier", 1, True, "auto",
                                     False, "balanced", False)  # fmt: skip
    assert not norm.centred and np.all(norm.mu == 0)
    present = x != 0
    np.testing.assert_allclose(1 / norm.inv_scale, np.sqrt((x**2).sum(axis=0) / present.sum(axis=0)), rtol=1e-12)
    assert norm.class_weights[1] == pytest.approx(np.sum(y == 0) / np.sum(y == 1))
    state = train(make_state(6, norm=norm), x, y, 1)
    coefficients, intercepts = state.original_space(0)
    z = x * norm.inv_scale
    np.testing.assert_allclose(x @ coefficients[0] + intercepts[0], z @ state.wt[:, 0] + state.bias[0], atol=1e-12)


def test_one_pass_converges_on_large_data_and_not_on_a_short_stream():
    x, y = logistic_data(n=200_000, seed=9)
    big = make_state(4, lr=0.05, batch=1000, lr_step=100, lr_factor=0.99).update(x, None, y)
    assert big.converged_within_pass(0.001)
    small = make_state(4, lr=0.01, batch=100).update(x[:1000], None, y[:1000])
    assert not small.converged_within_pass(0.001)


def test_exact_ridge_equals_numpy_solve_and_validation_mse_is_exact():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(500, 4)) + 100.0
    y = x @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(size=500)
    held = rng.random(500) < 0.3
    w = rng.uniform(0.5, 2.0, 500)
    state = ExactLeastSquares(4)
    for part in np.array_split(np.arange(500), 3):
        piece = ExactLeastSquares(4).update(x[part], w[part], y[part], held[part])
        state = state.merge(piece)
    train_rows = ~held
    xt, yt, wt = x[train_rows], y[train_rows], w[train_rows]
    for r in (0.0, 0.3):
        mean_x, mean_y = wt @ xt / wt.sum(), wt @ yt / wt.sum()
        xc, yc = xt - mean_x, yt - mean_y
        beta = np.linalg.solve(xc.T @ (wt[:, None] * xc) + r * wt.sum() * np.eye(4), xc.T @ (wt * yc))
        ours, intercept = state.solve(r)
        np.testing.assert_allclose(ours, beta, rtol=1e-9)
        assert intercept == pytest.approx(mean_y - mean_x @ beta, rel=1e-9)
        residual = y[held] - x[held] @ ours - intercept
        assert state.validation_mse(ours, intercept) == pytest.approx(w[held] @ residual**2 / w[held].sum(), rel=1e-8)
    _, _, chosen, errors = state.finalize([0.0, 0.3, 100.0])
    assert chosen == [0.0, 0.3, 100.0][int(np.argmin(errors))]


def test_exact_state_takes_sparse_rows():
    rng = np.random.default_rng(11)
    x = np.where(rng.random((300, 5)) < 0.4, rng.normal(size=(300, 5)), 0.0)
    y = rng.normal(size=300)
    dense = ExactLeastSquares(5).update(x, None, y)
    sparse = ExactLeastSquares(5).update(CSRMatrix.from_dense(x), None, y)
    np.testing.assert_allclose(sparse.solve(0.1)[0], dense.solve(0.1)[0], rtol=1e-10)


def test_merge_weights_each_feature_by_the_rows_that_touched_it():
    """Sparse rows: a state that never saw feature 2 must not pull its weight back."""
    x = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    y = np.array([1.0, 0.0, 1.0])
    a = make_state(3, models=2).for_partition(0).update(CSRMatrix.from_dense(x[:1]), None, y[:1])
    b = make_state(3, models=2).for_partition(1).update(CSRMatrix.from_dense(x[1:]), None, y[1:])
    merged = a.merge(b)
    np.testing.assert_allclose(merged.touches, [2.0, 2.0, 1.0])
    np.testing.assert_allclose(merged.wt[2], a.wt[2])  # only a touched feature 2
    np.testing.assert_allclose(merged.wt[0], (a.wt[0] + b.wt[0]) / 2)  # one touching row each
    np.testing.assert_allclose(merged.wt[1], b.wt[1])
    np.testing.assert_allclose(merged.bias, (a.bias + 2 * b.bias) / 3)  # intercepts: all rows
