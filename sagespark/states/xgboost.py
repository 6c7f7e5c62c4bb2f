"""What a worker runs of the XGBoost stages: the booster read from its own format (UBJ
bytes; never pickle) and the scorers. Boosting has no mergeable state: xgboost.spark
trains (sagespark.algorithms.xgboost); the "state" here is the booster, which holds the
model of every round count n <= the rounds it trained, read with
``iteration_range=(0, n)``.

xgboost is imported inside the functions, so sagespark imports without the extra."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from sagespark.kernels import CSRMatrix, Features

_BOOSTERS: dict[bytes, Any] = {}  # per worker process: digest -> Booster


def load_booster(raw: bytes, nthread: int = 1) -> Any:
    """An ``xgboost.Booster`` from the bytes of ``Booster.save_raw('ubj')``, kept per
    process (a worker scores many batches of one model)."""
    key = hashlib.blake2b(raw, digest_size=16).digest()
    booster = _BOOSTERS.get(key)
    if booster is None:
        import xgboost

        booster = xgboost.Booster(model_file=bytearray(raw))
        booster.set_param({"nthread": nthread})
        _BOOSTERS.clear()
        _BOOSTERS[key] = booster
    return booster


def _dense(features: Features) -> np.ndarray:
    """Dense rows: training saw sparse rows densified (absent entries are 0, not
    xgboost's missing), so scoring must too."""
    return features.to_dense() if isinstance(features, CSRMatrix) else np.asarray(features)


def booster_margins(features: Features, booster: bytes, rounds: int, nthread: int = 1) -> np.ndarray:
    """The raw scores (margins) of the first ``rounds`` boosting rounds: (n,) for one
    output, (n, K) for K classes; ``nthread``: the task's CPUs (spark.task.cpus)."""
    model = load_booster(booster, nthread)
    return model.inplace_predict(_dense(features), iteration_range=(0, rounds), predict_type="margin")


def xgboost_classify(features: Features, booster: bytes, rounds: int, nthread: int = 1) -> dict[str, np.ndarray]:
    """MLlib's classifier outputs from the margins m: binary rawPrediction [-m, m] and
    probability [1 - p, p] with p = sigmoid(m); K classes: the K margins and their
    softmax; prediction = the most probable class (xgboost.spark's rule)."""
    margins = booster_margins(features, booster, rounds, nthread)
    if margins.ndim == 1:
        p = 1.0 / (1.0 + np.exp(-margins))
        raw, probability = np.column_stack([-margins, margins]), np.column_stack([1.0 - p, p])
    else:
        raw = margins
        shifted = np.exp(margins - margins.max(axis=1, keepdims=True))
        probability = shifted / shifted.sum(axis=1, keepdims=True)
    return {"raw": raw, "probability": probability, "prediction": np.argmax(probability, axis=1).astype(np.float64)}


def xgboost_regress(features: Features, booster: bytes, rounds: int, nthread: int = 1) -> dict[str, np.ndarray]:
    """The prediction of the first ``rounds`` rounds, through the objective's link
    (the identity for squared error, exp for count:poisson, ...)."""
    model = load_booster(booster, nthread)
    values = model.inplace_predict(_dense(features), iteration_range=(0, rounds), predict_type="value")
    return {"prediction": np.asarray(values, dtype=np.float64)}


def best_rounds(history: Sequence[float], maximize: bool, patience: int | None) -> int:
    """The rounds an early-stopped model keeps, from one metric's history over rounds:
    xgboost's EarlyStopping rule (a round counts as better only when strictly better,
    so the first of equal scores wins), cut where ``patience`` rounds passed without
    improving. None patience: every round."""
    if patience is None or not len(history):
        return len(history)
    best, best_index = history[0], 0
    for index, score in enumerate(history[1:], start=1):
        if (score > best) if maximize else (score < best):
            best, best_index = score, index
        elif index - best_index >= patience:
            break
    return best_index + 1
