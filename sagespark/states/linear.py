"""Mergeable states for the linear learner.

``LinearLearnerState`` is SageMaker's packed linear learner: ``num_models`` linear models
(each with its own learning rate, L2 ``wd`` and L1 ``l1``) trained together by
mini-batch SGD/Adam/RMSProp on every batch (kernels in sagespark.kernels.linear), plus
what model selection needs, accumulated in the same pass:

- progressive training loss: every mini-batch is scored by every model *before* the
  models train on it, so the summed loss is an out-of-sample estimate that costs no
  extra pass; it is also kept as a loss curve over the pass (``curve``), which tells
  whether one pass already converged;
- selection metrics per model on the validation rows (or, without validation rows, the
  progressive scores of the training rows): the loss, and for binary classifiers
  histograms of sigmoid(score) per class (``bins`` equal-width bins on [0, 1]), for
  multiclass the weight of correct predictions, for regression squared and absolute
  errors in label units. Threshold calibration and selection read only these.

Merging averages the parameters and optimizer moments as sagespark.states.sgd
describes (each feature's weights by the rows that touched it, the intercepts by all
rows trained) and adds the metrics. ``finalize`` picks a model by a criterion and, for binary
classifiers, the decision threshold that optimizes it; it never reads data.

``ExactLeastSquares`` (solver='exact') keeps the exact weighted covariance of (x, y)
for training and validation rows and solves ridge regression for any regParam.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sagespark.kernels import CSRMatrix, Features, row_slice, take_rows
from sagespark.kernels.linalg import matmul, weighted_column_sums
from sagespark.kernels.linear import LOSSES, OPTIMIZERS, loss_gradient, optimizer_step, scores, weight_gradient
from sagespark.states.base import State
from sagespark.states.pca import ExactCovariance
from sagespark.states.sgd import (
    CURVE_SLOTS,
    average_parameters,
    binary_outputs,
    config_from_arrays,
    config_to_arrays,
    curve_converged,
    held_out_rows,
    merge_curves,
    record_curve,
    reset_curve,
    rows_from_arrays,
    rows_to_arrays,
    touched_part,
    whole_from,
)

PREDICTORS = ("regressor", "binary_classifier", "multiclass_classifier")
BINARY_CRITERIA = ("accuracy", "f_beta", "precision_at_target_recall", "recall_at_target_precision", "loss_function")
MULTICLASS_CRITERIA = ("loss_function", "accuracy")
# Loss values scale with the label scale to this power (regression, label units).
_LOSS_SCALE_POWER = {"squared": 2, "absolute": 1, "huber": 2, "quantile": 1, "eps_squared": 2, "eps_absolute": 1}


@dataclass(frozen=True)
class TrainingConfig:
    """Everything fixed for a fit, beyond the parameters: the problem, the optimizer and
    the normalization (learned on the driver from a sample before the first pass)."""

    predictor: str
    loss: str
    loss_parameter: float  # huber delta, quantile, insensitivity or margin (label units)
    classes: int  # 1 for regression and binary, numClasses for multiclass
    optimizer: str
    beta1: float
    beta2: float
    eps: float
    mini_batch_size: int
    use_bias: bool
    lr_step: int  # 0: no schedule
    lr_factor: float
    lr_min: float
    holdout_fraction: float
    has_validation: bool  # validation rows are marked in the data or held out
    seed: int
    bins: int = 1000

    def __post_init__(self) -> None:
        if self.predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {PREDICTORS}, got {self.predictor!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.mini_batch_size < 1:
            raise ValueError(f"miniBatchSize must be > 0, got {self.mini_batch_size}")



@dataclass(frozen=True)
class Normalization:
    """x -> (x - mu) * inv_scale (mu = 0 unless centred), y -> (y - label_shift) / label_scale,
    and the training weight of each class (1 for regression)."""

    mu: np.ndarray
    inv_scale: np.ndarray
    centred: bool
    label_shift: float
    label_scale: float
    class_weights: np.ndarray


@dataclass(frozen=True)
class ModelMetrics:
    """Selection metrics of every packed model (arrays over models)."""

    loss: np.ndarray  # mean objective loss (label units for regression)
    criterion: np.ndarray  # the selection criterion's value (larger is better)
    threshold: np.ndarray  # binary: the calibrated threshold on sigmoid(score)
    weight: float  # total weight of the rows measured
    mse: np.ndarray | None = None  # regression
    accuracy: np.ndarray | None = None  # classification


@dataclass(frozen=True)
class LinearSolution:
    """The selected model in the original feature space: coefficients (K x d),
    intercepts (K), the threshold (binary) and every packed model's metrics."""

    coefficients: np.ndarray
    intercepts: np.ndarray
    threshold: float
    selected: int
    metrics: ModelMetrics
    learning_rate: float
    wd: float
    l1: float


class LinearLearnerState(State):
    kind = "linear_learner"

    def __init__(self, config: TrainingConfig, normalization: Normalization, lr: np.ndarray, wd: np.ndarray,
                 l1: np.ndarray, wt: np.ndarray, bias: np.ndarray) -> None:  # fmt: skip
        self.config, self.norm = config, normalization
        self.lr, self.wd, self.l1 = (np.asarray(a, dtype=np.float64) for a in (lr, wd, l1))
        self.wt, self.bias = np.array(wt, dtype=np.float64), np.array(bias, dtype=np.float64)
        self.m1, self.m2 = np.zeros_like(self.wt), np.zeros_like(self.wt)
        self.bias_m1, self.bias_m2 = np.zeros_like(self.bias), np.zeros_like(self.bias)
        self.step = 0
        self.epochs = 0
        self.stream = 0  # seeds the held-out rows: the partition index
        self.rows: np.ndarray | None = None  # the rows of wt, m1, m2, touches held (sagespark.states.sgd)
        self.width = len(self.norm.mu)
        self.reset_metrics()

    # ------------------------------------------------------------------ shapes
    @property
    def n_features(self) -> int:
        return self.width

    @property
    def num_models(self) -> int:
        return len(self.lr)

    def reset_metrics(self) -> "LinearLearnerState":
        """Zero what one pass measures (kept parameters and moments)."""
        models, bins = self.num_models, self.config.bins
        self.trained_weight = 0.0
        self.touches = np.zeros(self.n_features)  # training weight of the rows touching each feature
        self.train_loss, self.train_weight = np.zeros(models), 0.0
        self.sel_loss, self.sel_weight = np.zeros(models), 0.0
        self.sel_sq, self.sel_abs, self.sel_correct = np.zeros(models), np.zeros(models), np.zeros(models)
        self.histogram = np.zeros((models, 2, bins if self.config.predictor == "binary_classifier" else 0))
        reset_curve(self, models)
        self.batches = 0
        return self

    def for_partition(self, partition: int) -> "LinearLearnerState":
        """A copy that starts a pass on one partition: same parameters, empty metrics,
        held-out rows seeded from (seed, partition)."""
        state = LinearLearnerState.from_arrays(self.to_arrays()).reset_metrics()
        state.stream = partition
        return state

    # ------------------------------------------------------------------ update
    def update(self, x: Features, weights: np.ndarray | None = None, labels: np.ndarray | None = None,
               holdout: np.ndarray | None = None) -> "LinearLearnerState":  # fmt: skip
        if labels is None:
            raise ValueError("the linear learner needs labels")
        if self.rows is not None:
            raise ValueError("a partition result holding only its touched rows cannot train; complete it first")
        if x.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {x.shape[1]}")
        n = x.shape[0]
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        holdout = held_out_rows(n, holdout, self.config.holdout_fraction, self.config.seed, self.stream, self.batches)
        size = self.config.mini_batch_size
        for start in range(0, n, size):
            stop = min(start + size, n)
            self._mini_batch(row_slice(x, start, stop), weights[start:stop], labels[start:stop], holdout[start:stop])
        return self

    def _mini_batch(self, x: Features, w: np.ndarray, y: np.ndarray, held: np.ndarray) -> None:
        c, norm = self.config, self.norm
        s = scores(x, self.wt, self.bias, norm.mu, norm.inv_scale, norm.centred)
        target = (y - norm.label_shift) / norm.label_scale if c.predictor == "regressor" else y
        row_loss, grad = loss_gradient(s, target, LOSSES.index(c.loss), self._loss_parameter(), c.classes)
        train = ~held
        self._measure_training(row_loss[train], w[train])
        measured = held if c.has_validation else train
        self._measure_selection(s[measured], target[measured], row_loss[measured], w[measured])
        if train.any():
            self._train(x if train.all() else take_rows(x, np.flatnonzero(train)), grad[train], w[train], y[train])
        self.batches += 1

    def _loss_parameter(self) -> float:
        """The loss parameter in normalized label units (regression losses)."""
        c = self.config
        if c.predictor == "regressor" and c.loss != "quantile":
            return c.loss_parameter / self.norm.label_scale
        return c.loss_parameter

    def _train(self, x: Features, grad: np.ndarray, w: np.ndarray, y: np.ndarray) -> None:
        c, norm = self.config, self.norm
        if c.predictor != "regressor":
            w = w * norm.class_weights[y.astype(np.int64)]
        total = float(w.sum())
        if total <= 0:
            return
        g = grad * (w / total)[:, None]
        self.step += 1
        lr = self._scheduled_lr()
        outputs = self.wt.shape[1]
        per_output = lambda a: np.repeat(a, c.classes)  # noqa: E731 - models -> outputs
        rows, gw = weight_gradient(x, g, norm.mu, norm.inv_scale, norm.centred)
        if rows is None:
            rows = np.arange(self.n_features)
            self.touches += total
        else:
            np.add.at(self.touches, x.indices, np.repeat(w, np.diff(x.indptr)))  # O(nnz), not O(d)
        optimizer = OPTIMIZERS.index(c.optimizer)
        optimizer_step(rows, gw, self.wt, self.m1, self.m2, per_output(lr), per_output(self.wd), per_output(self.l1),
                       optimizer, c.beta1, c.beta2, c.eps, self.step)  # fmt: skip
        if c.use_bias:
            zero = np.zeros(outputs)
            optimizer_step(np.zeros(1, np.int64), g.sum(axis=0)[None, :], self.bias[None, :], self.bias_m1[None, :],
                           self.bias_m2[None, :], per_output(lr), zero, zero, optimizer, c.beta1, c.beta2, c.eps,
                           self.step)  # fmt: skip
        self.trained_weight += total

    def _scheduled_lr(self) -> np.ndarray:
        c = self.config
        if c.lr_step <= 0:
            return self.lr
        decayed = self.lr * c.lr_factor ** (self.step // c.lr_step)
        return np.maximum(decayed, np.minimum(c.lr_min, self.lr))

    def _measure_training(self, row_loss: np.ndarray, w: np.ndarray) -> None:
        if len(w) == 0:
            return
        loss = w @ row_loss
        squares = w @ (row_loss * row_loss)
        self.train_loss += loss
        self.train_weight += float(w.sum())
        record_curve(self, self.batches, loss, squares, float(w.sum()))

    def _measure_selection(self, s: np.ndarray, y: np.ndarray, row_loss: np.ndarray, w: np.ndarray) -> None:
        if len(w) == 0:
            return
        c = self.config
        self.sel_loss += w @ row_loss
        self.sel_weight += float(w.sum())
        if c.predictor == "regressor":
            residual = (s - y[:, None]) * self.norm.label_scale
            self.sel_sq += w @ (residual * residual)
            self.sel_abs += w @ np.abs(residual)
        elif c.predictor == "multiclass_classifier":
            predicted = s.reshape(len(w), self.num_models, c.classes).argmax(axis=2)
            self.sel_correct += w @ (predicted == y[:, None].astype(np.int64))
        else:
            self._add_histogram(s, y, w)

    def _add_histogram(self, s: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        bins = self.config.bins
        p = 1.0 / (1.0 + np.exp(-np.clip(s, -700, 700)))
        b = np.minimum((p * bins).astype(np.int64), bins - 1)
        index = (np.arange(self.num_models) * 2 * bins)[None, :] + (y.astype(np.int64) * bins)[:, None] + b
        counts = np.bincount(index.ravel(), np.repeat(w, self.num_models), minlength=self.histogram.size)
        self.histogram += counts.reshape(self.histogram.shape)

    # ------------------------------------------------------------------ merge
    def merge(self, other: "LinearLearnerState") -> "LinearLearnerState":
        if not isinstance(other, LinearLearnerState):
            raise TypeError(f"cannot merge a {self.kind} state with {getattr(other, 'kind', type(other).__name__)}")
        shapes = (self.n_features, self.wt.shape[1]), (other.n_features, other.wt.shape[1])
        if shapes[0] != shapes[1] or other.config != self.config:
            raise ValueError(f"cannot merge linear learner states of different configurations ({shapes[0]} and {shapes[1]})")
        merged = LinearLearnerState.from_arrays(self.to_arrays())
        average_parameters(merged, self, other, ("bias", "bias_m1", "bias_m2"), _ROW_PARAMETERS)
        merged.step = max(self.step, other.step)
        merged.epochs = max(self.epochs, other.epochs)
        for name in ("train_loss", "train_weight", "sel_loss", "sel_weight", "sel_sq", "sel_abs", "sel_correct",
                     "histogram"):  # fmt: skip
            setattr(merged, name, getattr(self, name) + getattr(other, name))
        merge_curves(merged, self, other)
        merged.batches = max(self.batches, other.batches)
        return merged

    def partition_result(self) -> "LinearLearnerState":
        """Only the touched rows of the weights and moments (sagespark.states.sgd)."""
        return touched_part(self, _ROW_PARAMETERS, _CONSTANTS)

    def completed_from(self, start: "LinearLearnerState") -> "LinearLearnerState":
        return whole_from(self, start, _ROW_PARAMETERS, _CONSTANTS)

    # ------------------------------------------------------------------ finalize
    def best_selection_loss(self) -> float:
        """The lowest mean selection loss over the packed models (early stopping)."""
        if self.sel_weight <= 0:
            return float("nan")
        return float(np.min(self.sel_loss) / self.sel_weight)

    def selection_loss(self) -> float:
        """The early-stopping signal of a pass: the best packed model's mean selection loss."""
        return self.best_selection_loss()

    def converged_within_pass(self, tolerance: float) -> bool:
        """Whether the best model's progressive loss flattened during the pass
        (sagespark.states.sgd.curve_converged)."""
        return curve_converged(self, int(np.argmin(self.train_loss)), tolerance)

    def metrics(self, criterion: str, f_beta: float = 1.0, target_recall: float = 0.8,
                target_precision: float = 0.8) -> ModelMetrics:  # fmt: skip
        """Every packed model's selection metrics and criterion value (larger is better)."""
        c = self.config
        if self.sel_weight <= 0:
            raise ValueError("no rows were measured for model selection (no validation rows and no training rows)")
        loss = self.sel_loss / self.sel_weight
        if c.predictor == "regressor":
            loss = loss * self.norm.label_scale ** _LOSS_SCALE_POWER[c.loss]
            mse = self.sel_sq / self.sel_weight
            return ModelMetrics(loss, -loss, np.full(len(loss), np.nan), self.sel_weight, mse=mse)
        if c.predictor == "multiclass_classifier":
            if criterion not in MULTICLASS_CRITERIA:
                raise ValueError(f"multiclass selection criterion must be one of {MULTICLASS_CRITERIA}, got {criterion!r}")
            accuracy = self.sel_correct / self.sel_weight
            value = -loss if criterion == "loss_function" else accuracy
            return ModelMetrics(loss, value, np.full(len(loss), np.nan), self.sel_weight, accuracy=accuracy)
        value, threshold, accuracy = binary_criterion(self.histogram, criterion, f_beta, target_recall,
                                                      target_precision)  # fmt: skip
        if criterion == "loss_function":
            value = -loss
        return ModelMetrics(loss, value, threshold, self.sel_weight, accuracy=accuracy)

    def finalize(self, criterion: str = "accuracy", f_beta: float = 1.0, target_recall: float = 0.8,
                 target_precision: float = 0.8) -> LinearSolution:  # fmt: skip
        """Select the best packed model (ties: the lower loss, then the lower index) and
        return it in the original feature space."""
        if self.config.predictor == "regressor":
            criterion = "loss_function"
        metrics = self.metrics(criterion, f_beta, target_recall, target_precision)
        finite = np.where(np.isfinite(metrics.criterion), metrics.criterion, -np.inf)
        order = np.lexsort((np.arange(len(finite)), metrics.loss, -finite))
        selected = int(order[0])
        coefficients, intercepts = self.original_space(selected)
        threshold = float(metrics.threshold[selected]) if self.config.predictor == "binary_classifier" else float("nan")
        return LinearSolution(coefficients, intercepts, threshold, selected, metrics, float(self.lr[selected]),
                              float(self.wd[selected]), float(self.l1[selected]))  # fmt: skip

    def original_space(self, model: int) -> tuple[np.ndarray, np.ndarray]:
        """(coefficients K x d, intercepts K) of packed model ``model`` on raw features and
        labels: score = x . coef + intercept."""
        k, norm = self.config.classes, self.norm
        columns = slice(model * k, (model + 1) * k)
        coefficients = (self.wt[:, columns] * norm.inv_scale[:, None]).T.copy()
        intercepts = self.bias[columns].copy()
        if norm.centred:
            intercepts -= coefficients @ norm.mu
        if self.config.predictor == "regressor":
            coefficients *= norm.label_scale
            intercepts = intercepts * norm.label_scale + norm.label_shift
        return coefficients, intercepts

    # ------------------------------------------------------------------ arrays
    def to_arrays(self) -> dict[str, np.ndarray]:
        norm = self.norm
        arrays = {
            **config_to_arrays(self.config),
            "mu": norm.mu, "inv_scale": norm.inv_scale, "centred": np.array(norm.centred),
            "label_shift": np.array(norm.label_shift), "label_scale": np.array(norm.label_scale),
            "class_weights": norm.class_weights,
            "lr": self.lr, "wd": self.wd, "l1": self.l1,
            "step": np.array(self.step), "epochs": np.array(self.epochs), "stream": np.array(self.stream),
            "trained_weight": np.array(self.trained_weight), "train_weight": np.array(self.train_weight),
            "sel_weight": np.array(self.sel_weight), "curve_width": np.array(self.curve_width),
            "batches": np.array(self.batches),
        }  # fmt: skip
        for name in _ARRAY_FIELDS:
            arrays[name] = getattr(self, name)
        return rows_to_arrays(self, arrays)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "LinearLearnerState":
        state = cls.__new__(cls)
        state.config = config_from_arrays(TrainingConfig, arrays)
        state.norm = Normalization(
            np.array(arrays["mu"], dtype=np.float64), np.array(arrays["inv_scale"], dtype=np.float64),
            bool(arrays["centred"]), float(arrays["label_shift"]), float(arrays["label_scale"]),
            np.array(arrays["class_weights"], dtype=np.float64),
        )  # fmt: skip
        state.lr, state.wd, state.l1 = (np.array(arrays[n], dtype=np.float64) for n in ("lr", "wd", "l1"))
        for name in ("step", "epochs", "stream", "curve_width", "batches"):
            setattr(state, name, int(arrays[name]))
        for name in ("trained_weight", "train_weight", "sel_weight"):
            setattr(state, name, float(arrays[name]))
        for name in _ARRAY_FIELDS:
            setattr(state, name, np.array(arrays[name], dtype=np.float64))
        state.rows, state.width = rows_from_arrays(arrays, len(state.norm.mu))
        _check_state_shapes(state)
        return state


_ARRAY_FIELDS = ("wt", "bias", "m1", "m2", "bias_m1", "bias_m2", "touches", "train_loss", "sel_loss", "sel_sq", "sel_abs",
                 "sel_correct", "histogram", "curve", "curve_sq", "curve_weight")  # fmt: skip
_ROW_PARAMETERS = ("wt", "m1", "m2")  # per feature: merged by touches, shipped as touched rows only
_CONSTANTS = ("mu", "inv_scale")  # per feature, fixed for the fit: left out of partition results


def _indicator(x: Features) -> Features:
    """1 where x is non-zero."""
    if isinstance(x, CSRMatrix):
        return CSRMatrix(x.indptr, x.indices, (x.data != 0).astype(np.float64), x.n_cols)
    return (x != 0).astype(np.float64)


def _check_state_shapes(state: LinearLearnerState) -> None:
    d, models = state.n_features, len(state.lr)
    outputs = models * state.config.classes
    held, constant = (d, d) if state.rows is None else (len(state.rows), 0)
    expected = {
        "mu": (state.norm.mu, (constant,)), "inv_scale": (state.norm.inv_scale, (constant,)), "wd": (state.wd, (models,)), "l1": (state.l1, (models,)),
        "wt": (state.wt, (held, outputs)), "m1": (state.m1, (held, outputs)), "m2": (state.m2, (held, outputs)),
        "touches": (state.touches, (held,)),
        "bias": (state.bias, (outputs,)), "train_loss": (state.train_loss, (models,)),
        "curve": (state.curve, (CURVE_SLOTS, models)),
    }  # fmt: skip
    for name, (array, shape) in expected.items():
        if array.shape != shape:
            raise ValueError(f"linear learner state array '{name}' has shape {array.shape}, expected {shape}")


def binary_criterion(histogram: np.ndarray, criterion: str, f_beta: float, target_recall: float,
                     target_precision: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per model: (best criterion value, threshold achieving it, accuracy there) from
    score histograms (models x 2 classes x bins of sigmoid(score) on [0, 1]).

    The candidate thresholds are the bin edges t_j = j / bins (predict 1 when
    sigmoid(score) >= t_j); among the edges that reach the best value the middle one is
    taken. 'loss_function' calibrates nothing: its threshold is 0.5."""
    if criterion not in BINARY_CRITERIA:
        raise ValueError(f"binaryClassifierModelSelectionCriteria must be one of {BINARY_CRITERIA}, got {criterion!r}")
    models, _, bins = histogram.shape
    negatives, positives = histogram[:, 0, :], histogram[:, 1, :]
    # predicted positive at edge j: bins j..bins-1; j = bins predicts nothing positive
    tp = np.concatenate([np.cumsum(positives[:, ::-1], axis=1)[:, ::-1], np.zeros((models, 1))], axis=1)
    fp = np.concatenate([np.cumsum(negatives[:, ::-1], axis=1)[:, ::-1], np.zeros((models, 1))], axis=1)
    p, n = tp[:, :1], fp[:, :1]
    fn, tn = p - tp, n - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = (tp + tn) / np.maximum(p + n, 1e-300)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        recall = np.where(p > 0, tp / np.maximum(p, 1e-300), 0.0)
        if criterion in ("accuracy", "loss_function"):
            value = accuracy
        elif criterion == "f_beta":
            b2 = f_beta * f_beta
            value = np.where(tp > 0, (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp), 0.0)
        elif criterion == "precision_at_target_recall":
            value = np.where(recall >= target_recall, precision, -np.inf)
        else:
            value = np.where(precision >= target_precision, recall, -np.inf)
    if criterion == "loss_function":
        edge = np.full(models, bins // 2)
    else:
        edge = _middle_of_best(value)
    rows = np.arange(models)
    return value[rows, edge], edge / bins, accuracy[rows, edge]


def _middle_of_best(value: np.ndarray) -> np.ndarray:
    best = value.max(axis=1, keepdims=True)
    hits = value >= best
    edges = np.empty(len(value), dtype=np.int64)
    for m in range(len(value)):  # one row per packed model
        where = np.flatnonzero(hits[m])
        edges[m] = where[len(where) // 2]
    return edges


# ---------------------------------------------------------------------------- exact
class ExactLeastSquares(State):
    """Exact weighted least squares with an intercept, for any ridge penalty.

    Keeps the exact weighted mean and centred scatter of (x, y) (``ExactCovariance`` of
    d + 1 columns) separately for training and validation rows. With W the training
    weight, C the scatter and r = regParam the objective

        1/(2W) sum_i w_i (y_i - x_i beta - b)^2 + r/2 ||beta||^2

    has beta = (C_xx + r W I)^-1 C_xy and b = mean_y - mean_x . beta (MLlib's
    LinearRegression with standardization=False and elasticNetParam=0 at regParam
    r x std(y): MLlib divides its regParam by the label's deviation). The
    validation mean squared error of any beta follows from the validation sums alone:
    (C_yy - 2 beta.C_xy + beta^T C_xx beta) / W_v + (mean_y - mean_x.beta - b)^2.
    """

    kind = "linear_exact"

    def __init__(self, n_features: int, holdout_fraction: float = 0.0, seed: int = 0) -> None:
        self.train, self.validation = ExactCovariance(n_features + 1), ExactCovariance(n_features + 1)
        self.holdout_fraction, self.seed, self.stream, self.batches = float(holdout_fraction), int(seed), 0, 0

    @property
    def n_features(self) -> int:
        return self.train.n_features - 1

    def update(self, x: Features, weights: np.ndarray | None = None, labels: np.ndarray | None = None,
               holdout: np.ndarray | None = None) -> "ExactLeastSquares":  # fmt: skip
        if labels is None:
            raise ValueError("least squares needs labels")
        if x.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {x.shape[1]}")
        n = x.shape[0]
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        held = held_out_rows(n, holdout, self.holdout_fraction, self.seed, self.stream, self.batches)
        self.batches += 1
        joined = _append_column(x, np.asarray(labels, dtype=np.float64))
        for target, rows in ((self.train, ~held), (self.validation, held)):
            if rows.any():
                target.update(joined if rows.all() else take_rows(joined, np.flatnonzero(rows)), weights[rows])
        return self

    def merge(self, other: "ExactLeastSquares") -> "ExactLeastSquares":
        if not isinstance(other, ExactLeastSquares) or other.n_features != self.n_features:
            raise ValueError("cannot merge least-squares states of different dimensions")
        merged = ExactLeastSquares.from_arrays(self.to_arrays())
        merged.train, merged.validation = self.train.merge(other.train), self.validation.merge(other.validation)
        return merged

    def solve(self, reg_param: float) -> tuple[np.ndarray, float]:
        """(beta, intercept) minimizing the ridge objective on the training rows."""
        if reg_param < 0:
            raise ValueError(f"regParam must be >= 0, got {reg_param}")
        t = self.train
        if t.weight_sum <= 0:
            raise ValueError("no training rows with positive weight")
        d = self.n_features
        c_xx, c_xy = t.scatter[:d, :d], t.scatter[:d, d]
        beta = np.linalg.lstsq(c_xx + reg_param * t.weight_sum * np.eye(d), c_xy, rcond=None)[0]
        return beta, float(t.mean[d] - t.mean[:d] @ beta)

    def validation_mse(self, beta: np.ndarray, intercept: float) -> float:
        v, d = self.validation, self.n_features
        if v.weight_sum <= 0:
            return float("nan")
        c = v.scatter
        spread = c[d, d] - 2 * beta @ c[:d, d] + beta @ c[:d, :d] @ beta
        bias = v.mean[d] - v.mean[:d] @ beta - intercept
        return float(max(spread, 0.0) / v.weight_sum + bias * bias)

    def finalize(self, reg_params: tuple[float, ...] | list[float] = (0.0,)) -> tuple[np.ndarray, float, float, np.ndarray]:
        """(beta, intercept, chosen regParam, validation MSE per candidate): the candidate
        with the lowest validation MSE (the first when there are no validation rows)."""
        candidates = [float(r) for r in reg_params]
        if not candidates:
            raise ValueError("at least one regParam is needed")
        solutions = [self.solve(r) for r in candidates]
        errors = np.array([self.validation_mse(*s) for s in solutions])
        best = int(np.nanargmin(errors)) if np.isfinite(errors).any() else 0
        return solutions[best][0], solutions[best][1], candidates[best], errors

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"train_{k}": v for k, v in self.train.to_arrays().items()}
        arrays.update({f"validation_{k}": v for k, v in self.validation.to_arrays().items()})
        arrays.update(holdout_fraction=np.array(self.holdout_fraction), seed=np.array(self.seed),
                      stream=np.array(self.stream), batches=np.array(self.batches))  # fmt: skip
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ExactLeastSquares":
        state = cls.__new__(cls)
        state.train = ExactCovariance.from_arrays({k[6:]: v for k, v in arrays.items() if k.startswith("train_")})
        state.validation = ExactCovariance.from_arrays(
            {k[11:]: v for k, v in arrays.items() if k.startswith("validation_")}
        )
        state.holdout_fraction, state.seed = float(arrays["holdout_fraction"]), int(arrays["seed"])
        state.stream, state.batches = int(arrays["stream"]), int(arrays["batches"])
        return state

    def for_partition(self, partition: int) -> "ExactLeastSquares":
        state = ExactLeastSquares(self.n_features, self.holdout_fraction, self.seed)
        state.stream = partition
        return state


def _append_column(x: Features, column: np.ndarray) -> Features:
    """[x, column] as one batch (CSR stays CSR)."""
    if not isinstance(x, CSRMatrix):
        return np.column_stack([x, column])
    counts = np.diff(x.indptr) + 1
    indptr = np.concatenate([[0], np.cumsum(counts)])
    position = indptr[1:] - 1
    keep = np.ones(indptr[-1], dtype=bool)
    keep[position] = False
    indices = np.empty(indptr[-1], dtype=x.indices.dtype)
    data = np.empty(indptr[-1])
    indices[keep], data[keep] = x.indices, x.data
    indices[position], data[position] = x.n_cols, column
    return CSRMatrix(indptr, indices, data, x.n_cols + 1)


# ------------------------------------------------------------------ packed models
# Each packed model i > 0 draws its hyperparameters from a low-discrepancy sequence
# (additive recurrence with the generalized golden ratio of dimension 3), so the models
# cover the ranges evenly and the same numModels always gives the same set.
_R3 = 1.2207440846057596
_R3_STEPS = np.array([1 / _R3, 1 / _R3**2, 1 / _R3**3])


# 'auto' learning rates span 10x below to 100x above the default: a pass of N rows makes
# only N / (partitions x miniBatchSize) Adam steps, each moving a normalized weight by at
# most the learning rate, so on data of a few hundred thousand rows only rates near 0.1-1
# reach the optimum in one pass (measured on the flights data, docs/linear_learner.md),
# while large data and noisy labels favour the small ones.
AUTO_LEARNING_RATE, AUTO_LR_DECADES, GIVEN_LR_DECADES = 0.01, (-1.0, 2.0), (-1.0, 1.0)


def packed_hyperparameters(num_models: int, learning_rate: float | None, wd: float | None,
                           l1: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(learning rates, wd, l1), one per packed model. Model 0 uses the given values
    (None, SageMaker's 'auto', means AUTO_LEARNING_RATE and 0 for wd and l1); model
    i > 0 uses a given learning_rate x 10^[-1, 1) ('auto': 0.01 x 10^[-1, 2)), a given
    wd or l1 x 10^[-1, 1), and for 'auto' wd 10^[-7, -2) and l1 0 for half the models,
    10^[-7, -3) for the other half."""
    if num_models < 1:
        raise ValueError(f"numModels must be > 0, got {num_models}")
    u = (0.5 + np.outer(np.arange(num_models), _R3_STEPS)) % 1.0
    low, high = AUTO_LR_DECADES if learning_rate is None else GIVEN_LR_DECADES
    base = AUTO_LEARNING_RATE if learning_rate is None else learning_rate
    lr = base * 10 ** (low + (high - low) * u[:, 0])
    wd_values = wd * 10 ** (2 * u[:, 1] - 1) if wd is not None else 10 ** (-7 + 5 * u[:, 1])
    l1_values = (
        l1 * 10 ** (2 * u[:, 2] - 1) if l1 is not None
        else np.where(u[:, 2] < 0.5, 0.0, 10 ** (-7 + 8 * (u[:, 2] - 0.5)))
    )  # fmt: skip
    lr[0], wd_values[0], l1_values[0] = base, wd or 0.0, l1 or 0.0
    return lr, wd_values, l1_values


def initial_weights(n_features: int, outputs: int, method: str, scale: float, sigma: float,
                    seed: int) -> np.ndarray:  # fmt: skip
    """The (d x outputs) starting weights: uniform on [-scale, scale], normal(0, sigma)
    or zeros ('zero')."""
    rng = np.random.default_rng([seed, 0x11])
    if method == "uniform":
        return rng.uniform(-scale, scale, (n_features, outputs))
    if method == "normal":
        return rng.normal(0.0, sigma, (n_features, outputs))
    if method == "zero":
        return np.zeros((n_features, outputs))
    raise ValueError(f"initMethod must be 'uniform', 'normal' or 'zero', got {method!r}")


def normalization_from_sample(x: Features, y: np.ndarray, w: np.ndarray, predictor: str, classes: int,
                              normalize_data: bool, unbias_data: str, normalize_label: bool,
                              positive_weight: float | str, balance_multiclass: bool) -> Normalization:  # fmt: skip
    """SageMaker's scaler: per-feature mean and standard deviation from a sample (and the
    label's for regression); class weights for 'balanced' positives or balanced
    multiclass weights, from the sample's class frequencies.

    Features are centred only when ``unbias_data`` says so ('auto': when the sample is at
    least half non-zero, so centring does not turn sparse data dense). Centred features
    are divided by their standard deviation; features that are not centred by the root
    mean square of their non-zero values (a hashed indicator keeps scale 1: dividing by
    its standard deviation would blow up every rare feature, whose frequency a 10,000-row
    sample cannot estimate). Constant or unseen features keep scale 1."""
    d = x.shape[1]
    total = float(w.sum())
    if total <= 0:
        raise ValueError("the scaler sample has no rows with positive weight")
    squared = CSRMatrix(x.indptr, x.indices, x.data**2, x.n_cols) if isinstance(x, CSRMatrix) else x * x
    mean, squares = weighted_column_sums(x, w) / total, weighted_column_sums(squared, w) / total
    density = (len(x.data) if isinstance(x, CSRMatrix) else np.count_nonzero(x)) / max(x.shape[0] * d, 1)
    centred = normalize_data and (unbias_data == "true" or (unbias_data == "auto" and density >= 0.5))
    if centred:
        spread = np.sqrt(np.maximum(squares - mean * mean, 0.0))
    else:  # the typical magnitude of a present value: sparse features are scaled, not thinned
        present = weighted_column_sums(_indicator(x), w)
        spread = np.sqrt(squares * total / np.where(present > 0, present, 1.0))
    usable = spread > 1e-12 * np.maximum(np.abs(mean), 1.0)
    inv_scale = np.where(usable, 1.0 / np.where(usable, spread, 1.0), 1.0) if normalize_data else np.ones(d)
    mu = mean if centred else np.zeros(d)
    shift, scale = 0.0, 1.0
    if predictor == "regressor" and normalize_label:
        shift = float(w @ y / total)
        scale = float(np.sqrt(max(w @ (y - shift) ** 2 / total, 0.0))) or 1.0
    weights = np.ones(max(classes, 2))
    if predictor == "binary_classifier":
        positives = float(w[y == 1].sum())
        if positive_weight == "balanced":
            weights[1] = (total - positives) / positives if positives > 0 else 1.0
        else:
            weights[1] = float(positive_weight)
    elif predictor == "multiclass_classifier" and balance_multiclass:
        counts = np.bincount(y.astype(np.int64), w, minlength=classes)
        weights = np.where(counts > 0, total / (classes * np.maximum(counts, 1e-300)), 1.0)
    return Normalization(mu, inv_scale, centred, shift, scale, weights)


# What a linear learner model ships to the workers: scorers of a batch.
def linear_scores(x: Features, coefficients: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """x coefficients^T + intercepts (rows x K), CSR rows never densified."""
    return matmul(x, coefficients.T) + intercepts


def linear_classify(x: Features, coefficients: np.ndarray, intercepts: np.ndarray, threshold: float,
                    binary: bool) -> dict[str, np.ndarray]:  # fmt: skip
    """Binary: ``binary_outputs`` of the score; multiclass: the K scores, their softmax
    and the argmax."""
    s = linear_scores(x, coefficients, intercepts)
    if binary:
        return binary_outputs(s[:, 0], threshold)
    shifted = np.exp(s - s.max(axis=1, keepdims=True))
    return {
        "raw": s,
        "probability": shifted / shifted.sum(axis=1, keepdims=True),
        "prediction": s.argmax(axis=1).astype(np.float64),
    }


def linear_regress(x: Features, coefficients: np.ndarray, intercept: float) -> dict[str, np.ndarray]:
    return {"prediction": linear_scores(x, coefficients[None, :], np.array([intercept]))[:, 0]}
