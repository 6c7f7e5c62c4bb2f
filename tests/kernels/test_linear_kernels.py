"""Linear learner kernels: losses against finite differences, optimizer steps against
their formulas, CSR against dense."""

from __future__ import annotations

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.kernels.linear import LOSSES, loss_gradient, optimizer_step, scores, weight_gradient

PARAMETER = {"huber": 0.7, "quantile": 0.3, "eps_squared": 0.2, "eps_absolute": 0.2, "hinge": 1.0}


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(0)
    classes = 3 if loss == "softmax" else 1
    s = rng.normal(scale=2.0, size=(50, 2 * classes))
    if loss == "softmax":
        y = rng.integers(0, classes, 50).astype(float)
    elif loss in ("logistic", "hinge"):
        y = rng.integers(0, 2, 50).astype(float)
    else:
        y = rng.normal(size=50)
    code = LOSSES.index(loss)
    value, grad = loss_gradient(s, y, code, PARAMETER.get(loss, 0.0), classes)
    h = 1e-6
    for o in range(s.shape[1]):
        up, down = s.copy(), s.copy()
        up[:, o] += h
        down[:, o] -= h
        numeric = (loss_gradient(up, y, code, PARAMETER.get(loss, 0.0), classes)[0][:, o // classes]
                   - loss_gradient(down, y, code, PARAMETER.get(loss, 0.0), classes)[0][:, o // classes]) / (2 * h)  # fmt: skip
        np.testing.assert_allclose(grad[:, o], numeric, atol=1e-5, err_msg=f"{loss} output {o}")


def test_loss_values_on_hand_worked_cases():
    s, y = np.array([[2.0]]), np.array([0.5])
    assert loss_gradient(s, y, LOSSES.index("squared"), 0, 1)[0][0, 0] == pytest.approx(1.125)
    assert loss_gradient(s, y, LOSSES.index("huber"), 1.0, 1)[0][0, 0] == pytest.approx(1.0 * (1.5 - 0.5))
    assert loss_gradient(s, y, LOSSES.index("quantile"), 0.3, 1)[0][0, 0] == pytest.approx(0.7 * 1.5)
    assert loss_gradient(s, y, LOSSES.index("eps_absolute"), 0.5, 1)[0][0, 0] == pytest.approx(1.0)
    logistic = loss_gradient(np.array([[0.0]]), np.array([1.0]), LOSSES.index("logistic"), 0, 1)[0][0, 0]
    assert logistic == pytest.approx(np.log(2))
    assert loss_gradient(np.array([[0.4]]), np.array([1.0]), LOSSES.index("hinge"), 1.0, 1)[0][0, 0] == pytest.approx(0.6)
    big = loss_gradient(np.array([[800.0]]), np.array([0.0]), LOSSES.index("logistic"), 0, 1)[0][0, 0]
    assert big == pytest.approx(800.0)  # no overflow


def test_scores_and_weight_gradient_on_csr_equal_dense_with_centring():
    rng = np.random.default_rng(1)
    x = np.where(rng.random((40, 7)) < 0.4, rng.normal(size=(40, 7)), 0.0)
    wt, bias = rng.normal(size=(7, 3)), rng.normal(size=3)
    mu, inv_scale = rng.normal(size=7), rng.uniform(0.5, 2, 7)
    z = (x - mu) * inv_scale
    np.testing.assert_allclose(scores(x, wt, bias, mu, inv_scale, True), z @ wt + bias, atol=1e-12)
    np.testing.assert_allclose(scores(CSRMatrix.from_dense(x), wt, bias, mu, inv_scale, True), z @ wt + bias, atol=1e-12)
    g = rng.normal(size=(40, 3))
    rows, grad = weight_gradient(CSRMatrix.from_dense(x), g, mu, inv_scale, True)
    assert rows is None
    np.testing.assert_allclose(grad, z.T @ g, atol=1e-12)
    rows, grad = weight_gradient(CSRMatrix.from_dense(x), g, np.zeros(7), inv_scale, False)
    touched = np.flatnonzero(np.any(x != 0, axis=0))
    np.testing.assert_array_equal(rows, touched)
    np.testing.assert_allclose(grad, ((x * inv_scale).T @ g)[touched], atol=1e-12)


@pytest.mark.parametrize("optimizer", [0, 1, 2])
def test_optimizer_step_follows_its_formula(optimizer):
    rng = np.random.default_rng(2)
    w, m1, m2 = rng.normal(size=(4, 2)), rng.normal(size=(4, 2)) * 0.1, rng.uniform(0, 0.1, (4, 2))
    g = rng.normal(size=(2, 2))
    rows = np.array([1, 3])
    lr, wd, l1 = np.array([0.1, 0.05]), np.array([0.01, 0.0]), np.array([0.0, 0.5])
    expected_w, expected_m1, expected_m2 = w.copy(), m1.copy(), m2.copy()
    b1, b2, eps, step = 0.9, 0.99, 1e-8, 3
    for k, j in enumerate(rows):
        grad = g[k] + wd * w[j]
        if optimizer == 0:
            expected_m1[j] = b1 * m1[j] + (1 - b1) * grad
            expected_m2[j] = b2 * m2[j] + (1 - b2) * grad**2
            rate = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
            expected_w[j] = w[j] - rate * expected_m1[j] / (np.sqrt(expected_m2[j]) + eps)
        elif optimizer == 1:
            expected_m1[j] = b1 * m1[j] - lr * grad
            expected_w[j] = w[j] + expected_m1[j]
        else:
            expected_m2[j] = b2 * m2[j] + (1 - b2) * grad**2
            expected_w[j] = w[j] - lr * grad / (np.sqrt(expected_m2[j]) + eps)
        expected_w[j] = np.sign(expected_w[j]) * np.maximum(np.abs(expected_w[j]) - lr * l1, 0)
    optimizer_step(rows, g, w, m1, m2, lr, wd, l1, optimizer, b1, b2, eps, step)
    np.testing.assert_allclose(w, expected_w, rtol=1e-12)
    np.testing.assert_allclose(m1, expected_m1, rtol=1e-12)
    np.testing.assert_allclose(m2, expected_m2, rtol=1e-12)
