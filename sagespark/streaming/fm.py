"""The factorization machine's mergeable state: the model and its optimizer moments.

SageMaker's factorization machine is trained by mini-batch SGD/Adam over one pass; its
state is the model itself (w0, w, V; see sagespark.kernels.fm for the model and its
gradient) plus the optimizer's moments, the Adam step count, and what the merge and
the summary need: the training weight that touched each feature and the progressive
loss (every mini-batch is scored before it is trained on, so the mean loss over a pass
is an out-of-sample estimate that costs no extra pass).

``merge`` averages parameters and moments (sagespark.streaming.sgd): each feature's
row (w_j, v_j) by the rows that touched feature j in each state, the bias by all rows
trained. ``finalize`` is the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sagespark.kernels import Features
from sagespark.kernels.fm import LOGISTIC, SQUARED, as_csr, fm_train
from sagespark.kernels.linear import OPTIMIZERS
from sagespark.streaming.base import State
from sagespark.streaming.sgd import average_parameters, config_from_arrays, config_to_arrays

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

    def __init__(self, config: FMConfig, bias: float, linear: np.ndarray, factors: np.ndarray) -> None:
        self.config = config
        self.bias = np.full((1, 1), float(bias))
        self.params = np.column_stack([np.asarray(linear, dtype=np.float64), np.asarray(factors, dtype=np.float64)])
        if self.params.shape[1] != config.factors + 1:
            raise ValueError(f"factors have {self.params.shape[1] - 1} columns, expected {config.factors}")
        self.m1, self.m2 = np.zeros_like(self.params), np.zeros_like(self.params)
        self.bias_m1, self.bias_m2 = np.zeros((1, 1)), np.zeros((1, 1))
        self.step, self.epochs = 0, 0
        self.reset_pass()

    @property
    def n_features(self) -> int:
        return self.params.shape[0]

    def reset_pass(self) -> "FMState":
        """Zero what one pass measures (keeps parameters, moments and the step count)."""
        self.trained_weight = 0.0
        self.touches = np.zeros(self.n_features)
        self.loss_sum, self.loss_weight = 0.0, 0.0
        return self

    def for_partition(self, partition: int) -> "FMState":
        """A copy that starts a pass on one partition from these parameters."""
        return FMState.from_arrays(self.to_arrays()).reset_pass()

    def progressive_loss(self) -> float:
        """Mean loss of the rows of the pass, each scored before it was trained on."""
        return self.loss_sum / self.loss_weight if self.loss_weight > 0 else float("nan")

    # ------------------------------------------------------------------ update
    def update(self, x: Features, weights: np.ndarray | None = None, labels: np.ndarray | None = None,
               holdout: np.ndarray | None = None) -> "FMState":  # fmt: skip
        if labels is None:
            raise ValueError("factorization machines need labels")
        if x.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {x.shape[1]}")
        csr = as_csr(x)
        n = csr.shape[0]
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        c = self.config
        lr, wd = c.column_rates()
        step, progress = np.array([self.step], np.int64), np.zeros(2)
        fm_train(csr.indptr, csr.indices, csr.data, np.asarray(labels, dtype=np.float64), weights, c.loss,
                 c.mini_batch_size, self.bias, self.params, self.bias_m1, self.bias_m2, self.m1, self.m2, lr, wd,
                 c.bias_lr, c.bias_wd, OPTIMIZERS.index(c.optimizer), c.beta1, c.beta2, c.eps, step, self.touches,
                 progress)  # fmt: skip
        self.step = int(step[0])
        self.loss_sum += progress[0]
        self.loss_weight += progress[1]
        self.trained_weight += float(weights.sum())
        return self

    # ------------------------------------------------------------------ merge
    def merge(self, other: "FMState") -> "FMState":
        if not isinstance(other, FMState):
            raise TypeError(f"cannot merge a {self.kind} state with {getattr(other, 'kind', type(other).__name__)}")
        if other.params.shape != self.params.shape or other.config != self.config:
            raise ValueError(
                f"cannot merge factorization machine states of different configurations "
                f"({self.params.shape} and {other.params.shape})"
            )
        merged = FMState.from_arrays(self.to_arrays())
        average_parameters(merged, self, other, ("bias", "bias_m1", "bias_m2"), ("params", "m1", "m2"))
        merged.loss_sum, merged.loss_weight = self.loss_sum + other.loss_sum, self.loss_weight + other.loss_weight
        merged.step, merged.epochs = max(self.step, other.step), max(self.epochs, other.epochs)
        return merged

    def finalize(self) -> FMSolution:
        return FMSolution(float(self.bias[0, 0]), self.params[:, 0].copy(), self.params[:, 1:].copy())

    # ------------------------------------------------------------------ arrays
    def to_arrays(self) -> dict[str, np.ndarray]:
        scalars = {name: np.array(getattr(self, name)) for name in _SCALARS}
        return {**config_to_arrays(self.config), **scalars, **{name: getattr(self, name) for name in _ARRAYS}}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "FMState":
        state = cls.__new__(cls)
        state.config = config_from_arrays(FMConfig, arrays)
        for name in _SCALARS:
            setattr(state, name, arrays[name].item())
        state.step, state.epochs = int(state.step), int(state.epochs)
        for name in _ARRAYS:
            setattr(state, name, np.array(arrays[name], dtype=np.float64))
        _check_shapes(state)
        return state


_SCALARS = ("step", "epochs", "trained_weight", "loss_sum", "loss_weight")
_ARRAYS = ("bias", "params", "m1", "m2", "bias_m1", "bias_m2", "touches")


def _check_shapes(state: FMState) -> None:
    d, columns = state.params.shape if state.params.ndim == 2 else (-1, -1)
    expected = {"params": (d, state.config.factors + 1), "m1": (d, columns), "m2": (d, columns), "touches": (d,),
                "bias": (1, 1), "bias_m1": (1, 1), "bias_m2": (1, 1)}  # fmt: skip
    for name, shape in expected.items():
        if getattr(state, name).shape != shape:
            raise ValueError(f"factorization machine state array '{name}' has shape {getattr(state, name).shape}, "
                             f"expected {shape}")  # fmt: skip
