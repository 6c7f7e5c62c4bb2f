"""Kernels of the packed linear learner: many linear models updated on one mini-batch.

Layout: ``wt`` is (d x O), one column per output of every packed model (O = models x K,
K = number of classes for softmax, else 1), so a CSR row's non-zeros touch contiguous
rows of ``wt``. Training happens on normalized features z = (x - mu) * inv_scale
without materializing z: with V = diag(inv_scale) wt,

    scores = z wt + b = x V - mu^T V + b                          (b x O)
    dL/dwt = diag(inv_scale) (x^T G) - (mu * inv_scale) (1^T G)   (d x O)

where G = dL/dscores. Dense batches go to BLAS; CSR batches use numba loops over the
stored values, and when mu = 0 (sparse data is scaled, not centred) only the rows of
``wt`` a batch touches are updated ("lazy" updates: an untouched coordinate's weight
decay and optimizer moments wait until a batch touches it, as in sparse Adam).

Losses (``LOSSES``; s = score, y = label, r = s - y), the value and dL/ds:
    squared                 r^2 / 2                          r
    absolute                |r|                              sign r
    huber (delta)           r^2/2 if |r| <= delta else delta (|r| - delta/2)   clip(r, +-delta)
    quantile (q)            max(q (y - s), (q - 1)(y - s))   -q if y > s else 1 - q
    eps_squared (eps)       max(|r| - eps, 0)^2 / 2          sign r max(|r| - eps, 0)
    eps_absolute (eps)      max(|r| - eps, 0)                sign r [|r| > eps]
    logistic (y in {0,1})   log(1 + e^s) - y s               sigmoid(s) - y
    hinge (margin m)        max(0, m - t s), t = 2y - 1      -t [t s < m]
    softmax (K classes)     logsumexp(s) - s_y               softmax(s) - onehot(y)

Optimizers, per element with gradient g (+ wd w, the L2 term), then the L1 proximal
step w <- sign(w) max(|w| - lr l1, 0):
    adam     m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt v + eps)
    sgd      m = momentum m - lr g; w += m
    rmsprop  v = rho v + (1-rho) g^2; w -= lr g / (sqrt v + eps)
    adagrad  v = v + g^2; w -= lr g / (sqrt v + eps)
"""

from __future__ import annotations

import math

import numba
import numpy as np

from sagespark.kernels.sparse import CSRMatrix, Features

LOSSES = ("squared", "absolute", "huber", "quantile", "eps_squared", "eps_absolute", "logistic", "hinge", "softmax")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad")
SOFTMAX = LOSSES.index("softmax")


def scores(x: Features, wt: np.ndarray, bias: np.ndarray, mu: np.ndarray, inv_scale: np.ndarray,
           centred: bool) -> np.ndarray:  # fmt: skip
    """Scores (b x O) of every output on the normalized batch (see the module docstring)."""
    if isinstance(x, CSRMatrix):
        out = np.empty((x.shape[0], wt.shape[1]))
        _csr_scaled_matmul(x.indptr, x.indices, x.data, inv_scale, wt, out)
    else:
        out = x @ (wt * inv_scale[:, None])
    out += bias
    if centred:
        out -= (mu * inv_scale) @ wt
    return out


def loss_gradient(s: np.ndarray, y: np.ndarray, loss: int, parameter: float, classes: int,
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(per-row loss (b x models), dL/ds (b x O)) for scores s (b x O)."""
    b, outputs = s.shape
    row_loss = np.empty((b, outputs // classes))
    grad = np.empty_like(s)
    if loss == SOFTMAX:
        _softmax_loss(s, y, classes, row_loss, grad)
    else:
        _pointwise_loss(s, y, loss, parameter, row_loss, grad)
    return row_loss, grad


@numba.njit(cache=True)
def _pointwise_loss(s, y, loss, p, row_loss, grad):  # pragma: no cover - numba
    b, outputs = s.shape
    for i in range(b):
        for o in range(outputs):
            row_loss[i, o], grad[i, o] = pointwise_loss(s[i, o], y[i], loss, p)


@numba.njit(cache=True)
def pointwise_loss(s, y, loss, p):  # pragma: no cover - numba
    """(value, dL/ds) of loss number ``loss`` (index in LOSSES, not softmax) with
    parameter p at score s and label y."""
    r = s - y
    a = abs(r)
    if loss == 0:  # squared
        return 0.5 * r * r, r
    if loss == 1:  # absolute
        return a, math.copysign(1.0, r) if r != 0 else 0.0
    if loss == 2:  # huber
        if a <= p:
            return 0.5 * r * r, r
        return p * (a - 0.5 * p), math.copysign(p, r)
    if loss == 3:  # quantile
        u = y - s
        if u > 0:
            return p * u, -p
        return (p - 1.0) * u, 1.0 - p
    if loss == 4:  # eps-insensitive squared
        e = max(a - p, 0.0)
        return 0.5 * e * e, math.copysign(e, r)
    if loss == 5:  # eps-insensitive absolute
        return max(a - p, 0.0), math.copysign(1.0, r) if a > p else 0.0
    if loss == 6:  # logistic: softplus(s) - y s, stable for large |s|
        return max(s, 0.0) + math.log1p(math.exp(-abs(s))) - y * s, 1.0 / (1.0 + math.exp(-s)) - y
    t = 2.0 * y - 1.0  # hinge
    return max(0.0, p - t * s), -t if t * s < p else 0.0


@numba.njit(cache=True)
def _softmax_loss(s, y, classes, row_loss, grad):  # pragma: no cover - numba
    b, outputs = s.shape
    for i in range(b):
        label = int(y[i])
        for m in range(outputs // classes):
            base = m * classes
            top = s[i, base]
            for c in range(1, classes):
                top = max(top, s[i, base + c])
            total = 0.0
            for c in range(classes):
                e = math.exp(s[i, base + c] - top)
                grad[i, base + c] = e
                total += e
            for c in range(classes):
                grad[i, base + c] /= total
            grad[i, base + label] -= 1.0
            row_loss[i, m] = top + math.log(total) - s[i, base + label]


def weight_gradient(x: Features, g: np.ndarray, mu: np.ndarray, inv_scale: np.ndarray,
                    centred: bool) -> tuple[np.ndarray | None, np.ndarray]:  # fmt: skip
    """(rows of wt touched or None for all, dL/dwt on those rows) for dL/ds = g."""
    if isinstance(x, CSRMatrix) and not centred:
        rows, slot = np.unique(x.indices, return_inverse=True)
        out = np.zeros((len(rows), g.shape[1]))
        _csr_scaled_transpose_matmul(x.indptr, slot.astype(np.int64), x.data, inv_scale[rows], g, out)
        return rows, out
    if isinstance(x, CSRMatrix):
        out = np.zeros((x.shape[1], g.shape[1]))
        _csr_scaled_transpose_matmul(x.indptr, x.indices.astype(np.int64), x.data, inv_scale, g, out)
    else:
        out = (x.T @ g) * inv_scale[:, None]
    if centred:
        out -= np.outer(mu * inv_scale, g.sum(axis=0))
    return None, out


@numba.njit(cache=True)
def _csr_scaled_matmul(indptr, indices, data, inv_scale, wt, out):  # pragma: no cover - numba
    outputs = wt.shape[1]
    for i in range(len(indptr) - 1):
        for o in range(outputs):
            out[i, o] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = data[p] * inv_scale[j]
            for o in range(outputs):
                out[i, o] += v * wt[j, o]


@numba.njit(cache=True)
def _csr_scaled_transpose_matmul(indptr, slots, data, slot_scale, g, out):  # pragma: no cover - numba
    outputs = g.shape[1]
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            k = slots[p]
            v = data[p] * slot_scale[k]
            for o in range(outputs):
                out[k, o] += v * g[i, o]


@numba.njit(cache=True)
def optimizer_step(rows, grad, w, m1, m2, lr, wd, l1, optimizer, beta1, beta2, eps, step):  # pragma: no cover
    """Update rows ``rows`` of w (and its moments m1, m2) with their gradient rows
    ``grad``; lr, wd, l1 are per output column. ``step`` is the 1-based Adam step."""
    outputs = w.shape[1]
    correction = math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step) if optimizer == 0 else 1.0
    for k in range(len(rows)):
        j = rows[k]
        for o in range(outputs):
            g = grad[k, o] + wd[o] * w[j, o]
            if optimizer == 0:  # adam
                m1[j, o] = beta1 * m1[j, o] + (1.0 - beta1) * g
                m2[j, o] = beta2 * m2[j, o] + (1.0 - beta2) * g * g
                w[j, o] -= lr[o] * correction * m1[j, o] / (math.sqrt(m2[j, o]) + eps)
            elif optimizer == 1:  # sgd with momentum (beta1)
                m1[j, o] = beta1 * m1[j, o] - lr[o] * g
                w[j, o] += m1[j, o]
            elif optimizer == 2:  # rmsprop (decay beta2)
                m2[j, o] = beta2 * m2[j, o] + (1.0 - beta2) * g * g
                w[j, o] -= lr[o] * g / (math.sqrt(m2[j, o]) + eps)
            else:  # adagrad
                m2[j, o] += g * g
                w[j, o] -= lr[o] * g / (math.sqrt(m2[j, o]) + eps)
            if l1[o] > 0.0:
                shrink = lr[o] * l1[o]
                value = w[j, o]
                w[j, o] = math.copysign(max(abs(value) - shrink, 0.0), value)
