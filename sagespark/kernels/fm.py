"""Kernels of the factorization machine: scores and one pass of mini-batch training.

The model is y(x) = w0 + sum_j w_j x_j + sum_{i<j} <v_i, v_j> x_i x_j, with the
pairwise term computed in O(nnz k) by the sum-of-squares identity

    sum_{i<j} <v_i, v_j> x_i x_j = 1/2 sum_f [ (sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2 ].

With q_f = sum_j v_jf x_j the partial derivatives are

    dy/dw0 = 1,   dy/dw_j = x_j,   dy/dv_jf = x_j (q_f - v_jf x_j).

The linear weights and the factors share one table ``params`` (d x (1 + k)): column 0 is
w, columns 1..k are V, so a row's non-zeros touch whole rows of the table and one
optimizer step (``sagespark.kernels.linear.optimizer_step``, with per-column learning
rates and weight decays) updates them. Training visits rows in mini-batches: every row
of a mini-batch is scored with the parameters at the batch's start (the progressive
loss: each row is scored before it is trained on), the gradients of the rows are
averaged by weight, and only the rows of ``params`` the batch touched are stepped, their
weight decay included ("lazy" regularization: an untouched row is neither decayed nor
moved, as in sparse Adam/AdaGrad).
"""

from __future__ import annotations

import numba
import numpy as np

from sagespark.kernels.linear import LOSSES, optimizer_step, pointwise_loss
from sagespark.kernels.sparse import CSRMatrix, Features

LOGISTIC, SQUARED = LOSSES.index("logistic"), LOSSES.index("squared")


def as_csr(x: Features) -> CSRMatrix:
    """CSR view of a batch: dense rows keep their non-zero entries (zeros add nothing to
    any term of the model, so one sparse kernel serves both layouts)."""
    return x if isinstance(x, CSRMatrix) else CSRMatrix.from_dense(np.asarray(x, dtype=np.float64))


def fm_scores(x: Features, bias: float, params: np.ndarray) -> np.ndarray:
    """y(x) for every row of the batch."""
    x = as_csr(x)
    out = np.empty(x.shape[0])
    _scores(x.indptr, x.indices, x.data, bias, params, out)
    return out


@numba.njit(cache=True)
def _scores(indptr, indices, data, bias, params, out):  # pragma: no cover - numba
    factors = params.shape[1] - 1
    q = np.empty(factors)
    for i in range(len(indptr) - 1):
        out[i] = _row_score(indptr[i], indptr[i + 1], indices, data, bias, params, q)


@numba.njit(cache=True, inline="always")
def _row_score(start, stop, indices, data, bias, params, q):  # pragma: no cover - numba
    """y of one CSR row; leaves q_f = sum_j v_jf x_j in q."""
    factors = params.shape[1] - 1
    q[:] = 0.0
    linear, squares = 0.0, 0.0
    for p in range(start, stop):
        j, x = indices[p], data[p]
        linear += params[j, 0] * x
        for f in range(factors):
            v = params[j, 1 + f] * x
            q[f] += v
            squares += v * v
    pairs = 0.0
    for f in range(factors):
        pairs += q[f] * q[f]
    return bias + linear + 0.5 * (pairs - squares)


@numba.njit(cache=True)
def fm_train(indptr, indices, data, y, weights, loss, batch_size, bias, params, bias_m1, bias_m2, m1, m2,
             lr, wd, bias_lr, bias_wd, optimizer, beta1, beta2, eps, step, touches, progress):  # pragma: no cover
    """Train on the CSR rows in mini-batches of ``batch_size`` rows, in place.

    bias, bias_m1, bias_m2: (1, 1) arrays; params, m1, m2: d x (1 + k); lr, wd: per
    column of params (1 + k); step: int64 (1,) Adam step counter; touches (d): adds the
    training weight of the rows touching each feature; progress (2): adds the
    progressive loss sum (weighted) and the weight. Returns nothing."""
    d, columns = params.shape
    factors = columns - 1
    q = np.empty(factors)
    slot = np.full(d, -1, np.int64)
    n = len(indptr) - 1
    capacity = 0
    for start in range(0, n, batch_size):
        capacity = max(capacity, indptr[min(start + batch_size, n)] - indptr[start])
    capacity = min(capacity, d)
    rows = np.empty(capacity, np.int64)
    grad = np.zeros((capacity, columns))
    bias_grad = np.zeros((1, 1))
    zero = np.zeros(1)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        touched, total, bias_sum = 0, 0.0, 0.0
        for i in range(start, stop):
            w_i = weights[i]
            s = _row_score(indptr[i], indptr[i + 1], indices, data, bias[0, 0], params, q)
            value, g = pointwise_loss(s, y[i], loss, 0.0)
            progress[0] += w_i * value
            progress[1] += w_i
            total += w_i
            g *= w_i
            bias_sum += g
            for p in range(indptr[i], indptr[i + 1]):
                j, x = indices[p], data[p]
                k = slot[j]
                if k < 0:
                    k = touched
                    slot[j] = k
                    rows[k] = j
                    touched += 1
                touches[j] += w_i
                grad[k, 0] += g * x
                for f in range(factors):
                    grad[k, 1 + f] += g * x * (q[f] - params[j, 1 + f] * x)
        if total <= 0.0:
            continue
        for k in range(touched):
            for c in range(columns):
                grad[k, c] /= total
        step[0] += 1
        optimizer_step(rows[:touched], grad[:touched], params, m1, m2, lr, wd, np.zeros(columns), optimizer, beta1,
                       beta2, eps, step[0])
        if bias_lr > 0.0:
            bias_grad[0, 0] = bias_sum / total
            optimizer_step(np.zeros(1, np.int64), bias_grad, bias, bias_m1, bias_m2, np.full(1, bias_lr),
                           np.full(1, bias_wd), zero, optimizer, beta1, beta2, eps, step[0])
        for k in range(touched):
            slot[rows[k]] = -1
            grad[k, :] = 0.0
