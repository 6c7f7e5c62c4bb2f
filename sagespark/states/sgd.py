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
    row by ``touches``; then add up trained_weight and touches. Two partition results
    that hold only their touched rows (see touched_part) merge on the union of rows."""
    require_alike(mine, theirs)
    for name in by_rows:
        setattr(merged, name, weighted_mean(getattr(mine, name), getattr(theirs, name), mine.trained_weight,
                                            theirs.trained_weight))  # fmt: skip
    union, (my_rows, their_rows) = (None, (None, None)) if mine.rows is None else _union_positions(mine.rows, theirs.rows)

    def aligned(values: np.ndarray, at: np.ndarray | None) -> np.ndarray:
        """A part's rows placed at their slots in the union."""
        if union is None:
            return values
        out = np.zeros((len(union),) + values.shape[1:])
        out[at] = values
        return out

    my_touches, their_touches = aligned(mine.touches, my_rows), aligned(theirs.touches, their_rows)
    for name in by_touches:
        setattr(merged, name, touch_weighted_mean(aligned(getattr(mine, name), my_rows),
                                                  aligned(getattr(theirs, name), their_rows), my_touches, their_touches))  # fmt: skip
    merged.trained_weight = mine.trained_weight + theirs.trained_weight
    merged.touches = my_touches + their_touches
    merged.rows = union


# ------------------------------------------------------------------ touched rows only
# One partition's pass over wide sparse data touches few rows of the per-feature
# parameters; the other rows still equal the pass's start, which the driver holds. A
# partition therefore ships only its touched rows (State.partition_result), the merges
# work on the union of rows, and the driver fills in the rest from the start
# (State.completed_from): the same result as merging whole states, for a fraction of
# the bytes when the model is wide. ``rows`` (ascending feature indices, or None for
# all) says which rows a state's by-touches arrays and ``touches`` hold; a part also
# leaves out the fit's per-feature constants (the normalization), which the start has.
ROWS_KEY, WIDTH_KEY = "touched_rows", "touched_of"


def touched_part(state: Any, by_touches: tuple[str, ...], constants: tuple[str, ...]) -> Any:
    """``state`` holding only the rows some training row touched, without the
    ``constants`` arrays (itself when it touched every row)."""
    rows = np.flatnonzero(state.touches)
    if state.rows is not None or len(rows) == state.n_features:
        return state
    arrays = state.to_arrays()
    for name in (*by_touches, "touches"):
        arrays[name] = arrays[name][rows]
    for name in constants:
        arrays[name] = arrays[name][:0]
    arrays[ROWS_KEY], arrays[WIDTH_KEY] = rows, np.array(state.n_features)
    return type(state).from_arrays(arrays)


def whole_from(part: Any, start: Any, by_touches: tuple[str, ...], constants: tuple[str, ...]) -> Any:
    """``part`` with every row: its own rows, and the start's where it holds none."""
    if part.rows is None:
        return part
    arrays, start_arrays = part.to_arrays(), start.to_arrays()
    rows = arrays.pop(ROWS_KEY)
    del arrays[WIDTH_KEY]
    for name in constants:
        arrays[name] = start_arrays[name]
    for name in by_touches:
        whole = np.array(start_arrays[name], dtype=np.float64, copy=True)
        whole[rows] = arrays[name]
        arrays[name] = whole
    touches = np.zeros(start.n_features)
    touches[rows] = arrays["touches"]
    arrays["touches"] = touches
    return type(part).from_arrays(arrays)


def _union_positions(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The sorted union of two ascending index arrays and where each one's entries sit
    in it (a merge by one stable sort: numpy's unique hashes and is slower here)."""
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="stable")
    ordered = both[order]
    new = np.empty(len(ordered), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    slot = np.empty(len(both), dtype=np.int64)
    slot[order] = np.cumsum(new) - 1
    return ordered[new], (slot[: len(a)], slot[len(a) :])


def require_alike(mine: Any, theirs: Any) -> None:
    """Both partition results holding touched rows, or both whole states."""
    if (mine.rows is None) != (theirs.rows is None):
        raise ValueError("cannot merge a partition result holding only its touched rows with a whole state; "
                         "complete it first (completed_from)")  # fmt: skip


def rows_to_arrays(state: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` with the state's ``rows`` and width added when it holds only some rows."""
    if state.rows is not None:
        arrays[ROWS_KEY], arrays[WIDTH_KEY] = state.rows, np.array(state.n_features)
    return arrays


def rows_from_arrays(arrays: dict[str, np.ndarray], width: int) -> tuple[np.ndarray | None, int]:
    """(rows held or None, the number of features): ``width`` for a whole state."""
    if ROWS_KEY not in arrays:
        return None, width
    return np.array(arrays[ROWS_KEY], dtype=np.int64), int(arrays[WIDTH_KEY])


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


def binary_outputs(s: np.ndarray, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """MLlib's binary columns for scores s: rawPrediction [-s, s], probability
    [1 - p, p] with p = sigmoid(s), prediction 1 when p >= threshold (the binary
    learners' scorers: linear learner and FM)."""
    p = 1.0 / (1.0 + np.exp(-np.clip(s, -700, 700)))
    return {
        "raw": np.column_stack([-s, s]),
        "probability": np.column_stack([1.0 - p, p]),
        "prediction": (p >= threshold).astype(np.float64),
    }
