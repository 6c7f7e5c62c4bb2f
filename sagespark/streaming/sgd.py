"""What the SGD-trained states (linear learner, factorization machines) share: their
fixed configuration stored as arrays, the merge of parameters trained from the same
start on different rows, the held-out validation rows, and the progressive loss curve
over a pass that tells whether the pass already converged.

Merging averages parameters and optimizer moments (one epoch of data-parallel training
is a fold from the same start, then an average). Each feature's row of parameters is
averaged by the training weight of the rows that touched that feature in each state,
so for sparse rows a state that never saw a feature does not pull its learned
parameters back toward the start; for dense rows the weights are the rows trained.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np

Config = TypeVar("Config")


def config_to_arrays(config: Any) -> dict[str, np.ndarray]:
    """A frozen dataclass of scalars as ``config_<field>`` arrays."""
    return {f"config_{field.name}": np.array(getattr(config, field.name)) for field in dataclasses.fields(config)}


def config_from_arrays(cls: type[Config], arrays: dict[str, np.ndarray]) -> Config:
    """Inverse of ``config_to_arrays`` (booleans restored from their arrays; a field
    added after a state was saved takes its default)."""
    values = {}
    for field in dataclasses.fields(cls):
        key = f"config_{field.name}"
        if key not in arrays and field.default is not dataclasses.MISSING:
            continue
        value = arrays[key].item()
        values[field.name] = bool(value) if field.type == "bool" else value
    return cls(**values)


def touch_weighted_mean(mine: np.ndarray, theirs: np.ndarray, my_touches: np.ndarray,
                        their_touches: np.ndarray) -> np.ndarray:  # fmt: skip
    """Row j of the result averages row j of both by the weights that touched feature j
    (an equal average where neither touched it)."""
    total = my_touches + their_touches
    share = np.where(total > 0, my_touches / np.where(total > 0, total, 1.0), 0.5)
    share = share.reshape((-1,) + (1,) * (mine.ndim - 1))
    return share * mine + (1 - share) * theirs


def average_parameters(merged: Any, mine: Any, theirs: Any, by_rows: tuple[str, ...],
                       by_touches: tuple[str, ...]) -> None:  # fmt: skip
    """Set ``merged``'s parameter arrays to the averages of ``mine`` and ``theirs``: the
    ``by_rows`` arrays weighted by ``trained_weight``, the ``by_touches`` arrays row by
    row by ``touches``; then add up trained_weight and touches."""
    for name in by_rows:
        setattr(merged, name, weighted_mean(getattr(mine, name), getattr(theirs, name), mine.trained_weight,
                                            theirs.trained_weight))  # fmt: skip
    for name in by_touches:
        setattr(merged, name, touch_weighted_mean(getattr(mine, name), getattr(theirs, name), mine.touches,
                                                  theirs.touches))  # fmt: skip
    merged.trained_weight = mine.trained_weight + theirs.trained_weight
    merged.touches = mine.touches + theirs.touches


def weighted_mean(mine: np.ndarray, theirs: np.ndarray, my_weight: float, their_weight: float) -> np.ndarray:
    """The average weighted by the rows each trained on (mine where neither trained)."""
    total = my_weight + their_weight
    if total <= 0:
        return np.array(mine, copy=True)
    return (my_weight * mine + their_weight * theirs) / total


def held_out_rows(n: int, marked: np.ndarray | None, fraction: float, seed: int, stream: int,
                  batch: int) -> np.ndarray:  # fmt: skip
    """Validation rows of a batch: those marked, plus a random ``fraction`` drawn from
    (seed, partition, batch index), so every epoch holds out the same rows."""
    held = np.zeros(n, dtype=bool) if marked is None else np.asarray(marked, dtype=bool)
    if fraction > 0:
        held = held | (np.random.default_rng([seed, stream, batch]).random(n) < fraction)
    return held


# ---------------------------------------------------------------------------- loss curve
# The progressive loss of a pass, binned by batch index into CURVE_SLOTS slots per model
# (sums of losses, of squared losses, and weights); when the batches outgrow the slots,
# neighbouring slots are joined (curve_width doubles). A state keeps the arrays as its
# attributes curve, curve_sq (slots x models), curve_weight (slots) and curve_width.
CURVE_SLOTS = 64


def reset_curve(state: Any, models: int) -> None:
    state.curve, state.curve_sq = np.zeros((CURVE_SLOTS, models)), np.zeros((CURVE_SLOTS, models))
    state.curve_weight, state.curve_width = np.zeros(CURVE_SLOTS), 1


def record_curve(state: Any, batch: int, loss: np.ndarray, squares: np.ndarray, weight: float) -> None:
    """Add one batch's weighted loss sums (per model) at batch index ``batch``."""
    slot = batch // state.curve_width
    if slot >= CURVE_SLOTS:
        for name in ("curve", "curve_sq", "curve_weight"):
            values = getattr(state, name)
            setattr(state, name, np.concatenate([values[0::2] + values[1::2], np.zeros_like(values[: CURVE_SLOTS // 2])]))
        state.curve_width *= 2
        slot = batch // state.curve_width
    state.curve[slot] += loss
    state.curve_sq[slot] += squares
    state.curve_weight[slot] += weight


def merge_curves(merged: Any, mine: Any, theirs: Any) -> None:
    """``merged``'s curve: the slot-wise sum of both, at the coarser width."""
    width = max(mine.curve_width, theirs.curve_width)
    a, b = _curve_at(mine, width), _curve_at(theirs, width)
    merged.curve, merged.curve_sq, merged.curve_weight = (x + y for x, y in zip(a, b))
    merged.curve_width = width


def curve_converged(state: Any, model: int, tolerance: float) -> bool:
    """Whether ``model``'s progressive loss stopped improving during the pass: the mean
    loss over the last quarter of the curve improves on the quarter before by at most
    ``tolerance`` (relative) or two standard errors of the difference (the noise of the
    two means). Needs 16 filled slots."""
    filled = np.flatnonzero(state.curve_weight > 0)
    if len(filled) < 16:
        return False
    quarter = len(filled) // 4
    (late, late_var), (early, early_var) = (
        _curve_mean(state, filled[-quarter:], model), _curve_mean(state, filled[-2 * quarter : -quarter], model)
    )  # fmt: skip
    return bool(early - late <= max(tolerance * abs(early), 2 * np.sqrt(late_var + early_var)))


def _curve_mean(state: Any, slots: np.ndarray, model: int) -> tuple[float, float]:
    """(mean loss, variance of that mean) over curve slots, for one model."""
    weight = state.curve_weight[slots].sum()
    mean = state.curve[slots, model].sum() / weight
    spread = max(state.curve_sq[slots, model].sum() / weight - mean * mean, 0.0)
    return float(mean), float(spread / weight)


def _curve_at(state: Any, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The state's curve arrays re-binned to a coarser or equal slot width."""
    arrays = (state.curve, state.curve_sq, state.curve_weight)
    factor = width // state.curve_width
    if factor == 1:
        return tuple(a.copy() for a in arrays)
    slots = np.arange(CURVE_SLOTS) // factor
    coarse = []
    for values in arrays:
        binned = np.zeros_like(values)
        np.add.at(binned, slots, values)
        coarse.append(binned)
    return tuple(coarse)
