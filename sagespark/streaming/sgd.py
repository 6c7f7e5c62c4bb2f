"""What the SGD-trained states (linear learner, factorization machines) share: their
fixed configuration stored as arrays, and the merge of parameters trained from the same
start on different rows.

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
    """Inverse of ``config_to_arrays`` (booleans restored from their arrays)."""
    values = {}
    for field in dataclasses.fields(cls):
        value = arrays[f"config_{field.name}"].item()
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
