"""The factorization machine kernels against a plain numpy reference: the pairwise term
summed pair by pair, gradients by finite differences, and mini-batch training written
out with dense matrices."""

from __future__ import annotations

import numpy as np
import pytest

from sagespark.kernels import CSRMatrix
from sagespark.kernels.fm import LOGISTIC, SQUARED, fm_scores, fm_train
from sagespark.kernels.linear import OPTIMIZERS


def reference_scores(x: np.ndarray, bias: float, w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """w0 + x.w + sum over pairs i < j of <v_i, v_j> x_i x_j, pair by pair."""
    interactions = v @ v.T
    out = bias + x @ w
    for i in range(x.shape[1]):
        for j in range(i + 1, x.shape[1]):
            out = out + interactions[i, j] * x[:, i] * x[:, j]
    return out


def reference_loss(x, y, bias, w, v, loss):
    s = reference_scores(x, bias, w, v)
    if loss == LOGISTIC:
        return np.logaddexp(0, s) - y * s
    return 0.5 * (s - y) ** 2


def reference_gradient(x, y, weights, bias, w, v, loss):
    """(dL/dw0, dL/dw, dL/dV) of sum_i weight_i L_i, by hand: dy/dv_jf = x_j (q_f - v_jf x_j)."""
    s = bias + x @ w + 0.5 * (((x @ v) ** 2).sum(axis=1) - ((x * x) @ (v * v)).sum(axis=1))
    g = (1 / (1 + np.exp(-s)) - y if loss == LOGISTIC else s - y) * weights
    q = x @ v
    grad_v = x.T @ (g[:, None] * q) - v * ((x * x).T @ g)[:, None]
    return g.sum(), x.T @ g, grad_v


def sparse_problem(n=60, d=12, k=3, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * (rng.random((n, d)) < density)
    return x, rng.normal() * 0.1, rng.normal(size=d) * 0.3, rng.normal(size=(d, k)) * 0.3, rng


def test_scores_equal_the_pairwise_sum():
    x, bias, w, v, _ = sparse_problem()
    params = np.column_stack([w, v])
    expected = reference_scores(x, bias, w, v)
    np.testing.assert_allclose(fm_scores(x, bias, params), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fm_scores(CSRMatrix.from_dense(x), bias, params), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", [LOGISTIC, SQUARED])
def test_gradient_matches_finite_differences(loss):
    x, bias, w, v, rng = sparse_problem(n=20, d=6, k=2, density=0.6)
    y = (rng.random(20) < 0.5).astype(float)
    weights = rng.random(20) + 0.5
    total = lambda b, w_, v_: float(weights @ reference_loss(x, y, b, w_, v_, loss))  # noqa: E731
    g_bias, g_w, g_v = reference_gradient(x, y, weights, bias, w, v, loss)
    h = 1e-6
    assert g_bias == pytest.approx((total(bias + h, w, v) - total(bias - h, w, v)) / (2 * h), rel=1e-6)
    for j in range(6):
        step = np.eye(6)[j] * h
        assert g_w[j] == pytest.approx((total(bias, w + step, v) - total(bias, w - step, v)) / (2 * h), rel=1e-6)
        for f in range(2):
            bump = np.zeros_like(v)
            bump[j, f] = h
            numeric = (total(bias, w, v + bump) - total(bias, w, v - bump)) / (2 * h)
            assert g_v[j, f] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def reference_training(x, y, weights, bias, w, v, loss, batch, optimizer, lr, wd, bias_lr, beta1=0.9, beta2=0.999,
                       eps=1e-8):  # fmt: skip
    """Mini-batch training, dense and plain: each batch's mean gradient (by weight) at
    the batch's start; the rows of (w, V) the batch touched take one optimizer step
    with their L2 term; returns the final (bias, w, V) and the progressive loss sum."""
    params = np.column_stack([w, v]).astype(float)
    m1, m2 = np.zeros_like(params), np.zeros_like(params)
    b, bm1, bm2 = float(bias), 0.0, 0.0
    lr_col = np.array([lr[0]] + [lr[1]] * v.shape[1])
    wd_col = np.array([wd[0]] + [wd[1]] * v.shape[1])
    progressive = 0.0
    for t, start in enumerate(range(0, len(y), batch), start=1):
        rows = slice(start, start + batch)
        xb, yb, wb = x[rows], y[rows], weights[rows]
        progressive += float(wb @ reference_loss(xb, yb, b, params[:, 0], params[:, 1:], loss))
        g_bias, g_w, g_v = reference_gradient(xb, yb, wb, b, params[:, 0], params[:, 1:], loss)
        touched = np.flatnonzero((xb != 0).any(axis=0))
        grad = np.column_stack([g_w, g_v])[touched] / wb.sum() + wd_col * params[touched]
        params[touched], m1[touched], m2[touched] = step(params[touched], m1[touched], m2[touched], grad, lr_col,
                                                         optimizer, t, beta1, beta2, eps)  # fmt: skip
        nb, bm1, bm2 = step(np.array([b]), np.array([bm1]), np.array([bm2]), np.array([g_bias / wb.sum()]),
                            np.array([bias_lr]), optimizer, t, beta1, beta2, eps)  # fmt: skip
        b, bm1, bm2 = float(nb[0]), float(bm1[0]), float(bm2[0])
    return b, params, progressive


def step(p, m1, m2, g, lr, optimizer, t, beta1, beta2, eps):
    if optimizer == "adam":
        m1 = beta1 * m1 + (1 - beta1) * g
        m2 = beta2 * m2 + (1 - beta2) * g * g
        return p - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m1 / (np.sqrt(m2) + eps), m1, m2
    if optimizer == "adagrad":
        m2 = m2 + g * g
        return p - lr * g / (np.sqrt(m2) + eps), m1, m2
    m1 = beta1 * m1 - lr * g  # sgd with momentum beta1
    return p + m1, m1, m2


@pytest.mark.parametrize("optimizer", ["adam", "adagrad", "sgd"])
@pytest.mark.parametrize("loss", [LOGISTIC, SQUARED])
def test_training_equals_the_numpy_reference(optimizer, loss):
    x, bias, w, v, rng = sparse_problem(n=70, d=15, k=3, density=0.25, seed=3)
    y = (rng.random(70) < 0.5).astype(float) if loss == LOGISTIC else rng.normal(size=70)
    weights = rng.random(70) + 0.5
    lr, wd, bias_lr, batch = (0.05, 0.02), (0.01, 0.003), 0.1, 16
    beta1 = 0.5 if optimizer == "sgd" else 0.9
    expected_bias, expected, progressive = reference_training(x, y, weights, bias, w, v, loss, batch, optimizer, lr,
                                                              wd, bias_lr, beta1=beta1)  # fmt: skip
    csr = CSRMatrix.from_dense(x)
    params = np.column_stack([w, v])
    state = dict(bias=np.full((1, 1), bias), m=[np.zeros_like(params) for _ in range(2)], b=[np.zeros((1, 1))] * 2)
    step_count, touches, progress = np.zeros(1, np.int64), np.zeros(15), np.zeros(2)
    fm_train(csr.indptr, csr.indices, csr.data, y, weights, loss, batch, state["bias"], params, np.zeros((1, 1)),
             np.zeros((1, 1)), state["m"][0], state["m"][1], np.array([lr[0]] + [lr[1]] * 3),
             np.array([wd[0]] + [wd[1]] * 3), bias_lr, 0.0, OPTIMIZERS.index(optimizer), beta1, 0.999, 1e-8,
             step_count, touches, progress)  # fmt: skip
    np.testing.assert_allclose(params, expected, rtol=1e-10, atol=1e-12)
    assert state["bias"][0, 0] == pytest.approx(expected_bias, rel=1e-10)
    assert progress[0] == pytest.approx(progressive, rel=1e-10)
    assert progress[1] == pytest.approx(weights.sum(), rel=1e-12)
    assert step_count[0] == 5
    np.testing.assert_allclose(touches, (x != 0).T.astype(float) @ weights, rtol=1e-12)
