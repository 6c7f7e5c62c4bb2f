"""The factorization machine's mergeable state: the model and its optimizer moments.

SageMaker's factorization machine is trained by mini-batch SGD/Adam over one pass; its
state is the model itself (w0, w, V; see sagespark.kernels.fm for the model and its
gradient) plus the optimizer's moments, the Adam step count, and what the merge and
the summary need: the training weight that touched each feature and the progressive
loss (every mini-batch is scored before it is trained on, so the mean loss over a pass
is an out-of-sample estimate that costs no extra pass).

``merge`` averages parameters and moments (sagespark.states.sgd): each feature's
row (w_j, v_j) by the rows that touched feature j in each state, the bias by all rows
trained. ``finalize`` is the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sagespark.kernels import CSRMatrix, Features, take_rows
from sagespark.kernels.fm import LOGISTIC, SQUARED, as_csr, fm_scores, fm_train
from sagespark.kernels.linear import OPTIMIZERS, loss_gradient
from sagespark.states.base import State
from sagespark.states.sgd import (
    average_parameters,
    config_from_arrays,
    config_to_arrays,
    curve_converged,
    held_out_rows,
    merge_curves,
    record_curve,
    require_alike,
    reset_curve,
    rows_from_arrays,
    rows_to_arrays,
    touched_part,
    whole_from,
)

PREDICTORS = ("binary_classifier", "regressor")


@dataclass(frozen=True)
class FMConfig:
    """What is fixed for a fit: the problem, the optimizer and each term's step size
    and L2 weight decay (0 learning rate freezes a term: fitIntercept / fitLinear off)."""

    predictor: str
    factors: int
    optimizer: str
    mini_batch_size: int
    beta1: float
    beta2: float
    eps: float
    bias_lr: float
    linear_lr: float
    factors_lr: float
    bias_wd: float
    linear_wd: float
    factors_wd: float
    holdout_fraction: float = 0.0  # rows held out (seeded) to measure the validation loss
    seed: int = 0

    def __post_init__(self) -> None:
        if self.predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {PREDICTORS}, got {self.predictor!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"solver must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.factors < 1:
            raise ValueError(f"factorSize must be > 0, got {self.factors}")
        if self.mini_batch_size < 1:
            raise ValueError(f"miniBatchSize must be > 0, got {self.mini_batch_size}")
        for name in ("bias_lr", "linear_lr", "factors_lr", "bias_wd", "linear_wd", "factors_wd"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def loss(self) -> int:
        return LOGISTIC if self.predictor == "binary_classifier" else SQUARED

    def column_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """(learning rate, weight decay) of each column of the parameter table."""
        k = self.factors
        return (np.array([self.linear_lr] + [self.factors_lr] * k), np.array([self.linear_wd] + [self.factors_wd] * k))


@dataclass(frozen=True)
class FMSolution:
    """y(x) = intercept + linear . x + sum_{i<j} <factors_i, factors_j> x_i x_j."""

    intercept: float
    linear: np.ndarray  # d
    factors: np.ndarray  # d x k


class FMState(State):
    kind = "factorization_machine"

    def __init__(self, config: FMConfig, bias: float, linear: np.ndarray, factors: np.ndarray,
                 inv_scale: np.ndarray | None = None, label_shift: float = 0.0, label_scale: float = 1.0) -> None:  # fmt: skip
        self.config = config
        d = np.asarray(linear).shape[0]
        self.inv_scale = np.ones(d) if inv_scale is None else np.asarray(inv_scale, dtype=np.float64)
        self.label_shift, self.label_scale = float(label_shift), float(label_scale)
        self.bias = np.full((1, 1), float(bias))
        self.params = np.column_stack([np.asarray(linear, dtype=np.float64), np.asarray(factors, dtype=np.float64)])
        if self.params.shape[1] != config.factors + 1:
            raise ValueError(f"factors have {self.params.shape[1] - 1} columns, expected {config.factors}")
        self.m1, self.m2 = np.zeros_like(self.params), np.zeros_like(self.params)
        self.bias_m1, self.bias_m2 = np.zeros((1, 1)), np.zeros((1, 1))
        self.step, self.epochs, self.stream = 0, 0, 0
        self.rows: np.ndarray | None = None  # the rows of params, m1, m2, touches held (sagespark.states.sgd)
        self.width = d
        self.reset_pass()

    @property
    def n_features(self) -> int:
        return self.width

    def reset_pass(self) -> "FMState":
        """Zero what one pass measures (keeps parameters, moments and the step count)."""
        self.trained_weight = 0.0
        self.touches = np.zeros(self.n_features)
        self.loss_sum, self.loss_weight = 0.0, 0.0
        self.val_loss_sum, self.val_weight = 0.0, 0.0
        self.batches = 0
        reset_curve(self, 1)
        return self

    def for_partition(self, partition: int) -> "FMState":
        """A copy that starts a pass on one partition from these parameters (held-out
        rows seeded from (seed, partition, batch))."""
        state = FMState.from_arrays(self.to_arrays()).reset_pass()
        state.stream = partition
        return state

    def progressive_loss(self) -> float:
        """Mean loss of the training rows of the pass, each scored before it was trained on."""
        return self.loss_sum / self.loss_weight if self.loss_weight > 0 else float("nan")

    def validation_loss(self) -> float:
        """Mean loss of the held-out rows (never trained on); nan without any."""
        return self.val_loss_sum / self.val_weight if self.val_weight > 0 else float("nan")

    def selection_loss(self) -> float:
        """The early-stopping signal: the validation loss, else the progressive loss
        (honest in the first pass only: later passes score rows trained on before)."""
        return self.validation_loss() if self.val_weight > 0 else self.progressive_loss()

    def converged_within_pass(self, tolerance: float) -> bool:
        """Whether the progressive loss flattened during the pass (sagespark.states.sgd)."""
        return curve_converged(self, 0, tolerance)

    # ------------------------------------------------------------------ update
    def update(self, x: Features, weights: np.ndarray | None = None, labels: np.ndarray | None = None,
               holdout: np.ndarray | None = None) -> "FMState":  # fmt: skip
        if labels is None:
            raise ValueError("factorization machines need labels")
        if self.rows is not None:
            raise ValueError("a partition result holding only its touched rows cannot train; complete it first")
        if x.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {x.shape[1]}")
        csr = self._normalized(as_csr(x))
        n = csr.shape[0]
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        labels = (np.asarray(labels, dtype=np.float64) - self.label_shift) / self.label_scale
        held = held_out_rows(n, holdout, self.config.holdout_fraction, self.config.seed, self.stream, self.batches)
        self.batches += 1
        if held.any():
            self._measure_validation(take_rows(csr, np.flatnonzero(held)), labels[held], weights[held])
            train = np.flatnonzero(~held)
            csr, labels, weights = take_rows(csr, train), labels[train], weights[train]
        if len(weights):
            self._train(csr, labels, weights)
        return self

    def _normalized(self, csr: CSRMatrix) -> CSRMatrix:
        """The rows with each feature divided by its scale (the model trains on these)."""
        if not np.any(self.inv_scale != 1.0):
            return csr
        return CSRMatrix(csr.indptr, csr.indices, csr.data * self.inv_scale[csr.indices], csr.n_cols)

    def _train(self, csr, labels: np.ndarray, weights: np.ndarray) -> None:
        c = self.config
        lr, wd = c.column_rates()
        step, progress = np.array([self.step], np.int64), np.zeros(2)
        fm_train(csr.indptr, csr.indices, csr.data, labels, weights, c.loss,
                 c.mini_batch_size, self.bias, self.params, self.bias_m1, self.bias_m2, self.m1, self.m2, lr, wd,
                 c.bias_lr, c.bias_wd, OPTIMIZERS.index(c.optimizer), c.beta1, c.beta2, c.eps, step, self.touches,
                 progress)  # fmt: skip
        self.step = int(step[0])
        self.loss_sum += progress[0]
        self.loss_weight += progress[1]
        self.trained_weight += float(weights.sum())
        # the kernel reports the batch's loss sum only: no squares, so the curve's noise
        # term is 0 and convergence needs the improvement itself below the tolerance
        record_curve(self, self.batches - 1, np.array([progress[0]]), np.zeros(1), float(progress[1]))

    def _measure_validation(self, csr, labels: np.ndarray, weights: np.ndarray) -> None:
        s = fm_scores(csr, float(self.bias[0, 0]), self.params)
        row_loss, _ = loss_gradient(s[:, None], labels, self.config.loss, 0.0, 1)
        self.val_loss_sum += float(weights @ row_loss[:, 0])
        self.val_weight += float(weights.sum())

    # ------------------------------------------------------------------ merge
    def merge(self, other: "FMState") -> "FMState":
        if not isinstance(other, FMState):
            raise TypeError(f"cannot merge a {self.kind} state with {getattr(other, 'kind', type(other).__name__)}")
        require_alike(self, other)
        same_scales = np.array_equal(other.inv_scale, self.inv_scale) and (other.label_shift, other.label_scale) == (
            self.label_shift, self.label_scale)  # fmt: skip
        shapes = (self.n_features, self.params.shape[1]), (other.n_features, other.params.shape[1])
        if shapes[0] != shapes[1] or other.config != self.config or not same_scales:
            raise ValueError(
                f"cannot merge factorization machine states of different configurations ({shapes[0]} and {shapes[1]})"
            )
        merged = FMState.from_arrays(self.to_arrays())
        average_parameters(merged, self, other, ("bias", "bias_m1", "bias_m2"), _ROW_PARAMETERS)
        for name in ("loss_sum", "loss_weight", "val_loss_sum", "val_weight"):
            setattr(merged, name, getattr(self, name) + getattr(other, name))
        merged.step, merged.epochs = max(self.step, other.step), max(self.epochs, other.epochs)
        merged.batches = max(self.batches, other.batches)
        merge_curves(merged, self, other)
        return merged

    def partition_result(self) -> "FMState":
        """Only the touched rows of the parameters and moments (sagespark.states.sgd)."""
        return touched_part(self, _ROW_PARAMETERS, _CONSTANTS)

    def completed_from(self, start: "FMState") -> "FMState":
        return whole_from(self, start, _ROW_PARAMETERS, _CONSTANTS)

    def finalize(self) -> FMSolution:
        """The model on raw features and labels. Training sees z_j = x_j s_j (s =
        inv_scale) and the label (y - shift) / scale, so y = scale y_z(z) + shift gives
        w0 = scale b + shift, w_j = scale s_j w_j and v_j = sqrt(scale) s_j v_j (each
        pair <v_i, v_j> x_i x_j takes s_i s_j and one factor scale)."""
        scale, s = self.label_scale, self.inv_scale
        return FMSolution(scale * float(self.bias[0, 0]) + self.label_shift, scale * s * self.params[:, 0],
                          np.sqrt(scale) * s[:, None] * self.params[:, 1:])  # fmt: skip

    # ------------------------------------------------------------------ arrays
    def to_arrays(self) -> dict[str, np.ndarray]:
        scalars = {name: np.array(getattr(self, name)) for name in _SCALARS}
        arrays = {**config_to_arrays(self.config), **scalars, **{name: getattr(self, name) for name in _ARRAYS}}
        return rows_to_arrays(self, arrays)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "FMState":
        state = cls.__new__(cls)
        state.config = config_from_arrays(FMConfig, arrays)
        # a state saved before these fields existed: an empty curve, no normalization
        reset_curve(state, 1)
        state.val_loss_sum, state.val_weight, state.stream, state.batches = 0.0, 0.0, 0, 0
        state.label_shift, state.label_scale = 0.0, 1.0
        state.rows, state.width = rows_from_arrays(arrays, np.asarray(arrays["params"]).shape[0])
        state.inv_scale = np.ones(state.width)
        for name in _SCALARS:
            if name in arrays:
                setattr(state, name, arrays[name].item())
        for name in ("step", "epochs", "stream", "batches", "curve_width"):
            setattr(state, name, int(getattr(state, name)))
        for name in _ARRAYS:
            if name in arrays or name not in _ADDED:
                setattr(state, name, np.array(arrays[name], dtype=np.float64))
        _check_shapes(state)
        return state


_SCALARS = ("step", "epochs", "stream", "trained_weight", "loss_sum", "loss_weight", "val_loss_sum", "val_weight",
            "batches", "curve_width", "label_shift", "label_scale")  # fmt: skip
_ADDED = ("curve", "curve_sq", "curve_weight", "inv_scale")  # arrays a state saved before may lack
_ARRAYS = ("bias", "params", "m1", "m2", "bias_m1", "bias_m2", "touches", *_ADDED)
_ROW_PARAMETERS = ("params", "m1", "m2")  # per feature: merged by touches, shipped as touched rows only
_CONSTANTS = ("inv_scale",)  # per feature, fixed for the fit: left out of partition results


def _check_shapes(state: FMState) -> None:
    held, columns = state.params.shape if state.params.ndim == 2 else (-1, -1)
    if state.rows is not None and held != len(state.rows):
        raise ValueError(f"factorization machine state holds {held} rows of parameters for {len(state.rows)} row indices")
    d = state.n_features if state.rows is None else 0  # a partition result leaves out inv_scale
    expected = {"params": (held, state.config.factors + 1), "m1": (held, columns), "m2": (held, columns),
                "touches": (held,), "inv_scale": (d,),
                "bias": (1, 1), "bias_m1": (1, 1), "bias_m2": (1, 1)}  # fmt: skip
    for name, shape in expected.items():
        if getattr(state, name).shape != shape:
            raise ValueError(f"factorization machine state array '{name}' has shape {getattr(state, name).shape}, "
                             f"expected {shape}")  # fmt: skip


# What an FM model ships to the workers: the scorer of a batch.
def fm_outputs(x: Features, outputs: Callable[[np.ndarray], dict[str, np.ndarray]], intercept: float,
               params: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """``outputs(y)`` of the FM scores y of a batch (params = [linear | factors])."""
    return outputs(fm_scores(x, intercept, params))


def fm_prediction(s: np.ndarray) -> dict[str, np.ndarray]:
    """The regressor's output: the score itself."""
    return {"prediction": s}
