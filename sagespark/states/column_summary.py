"""Moments and quantile sketches of the same columns, as one state (``summarize``)."""

from __future__ import annotations

import numpy as np

from sagespark.kernels import Features
from sagespark.states.base import State
from sagespark.states.moments import Moments, MomentsSummary
from sagespark.states.quantiles import DEFAULT_K, QuantileSketches


class ColumnSummary(State):
    """Moments and quantile sketches over the same columns, updated together. Weights
    apply to the moments; the sketches count rows (DataFrame quantiles are unweighted)."""

    kind = "column_summary"

    def __init__(self, k: int = DEFAULT_K) -> None:
        self.moments, self.sketches = Moments(), QuantileSketches(k)

    def update(self, x: Features, weights: np.ndarray | None = None) -> "ColumnSummary":
        self.moments.update(x, weights)
        self.sketches.update(x)
        return self

    def merge(self, other: "ColumnSummary") -> "ColumnSummary":
        merged = ColumnSummary.__new__(ColumnSummary)
        merged.moments, merged.sketches = self.moments.merge(other.moments), self.sketches.merge(other.sketches)
        return merged

    def finalize(self) -> "MomentsSummary":
        return self.moments.finalize()

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"moments.{k}": v for k, v in self.moments.to_arrays().items()}
        arrays.update({f"sketches.{k}": v for k, v in self.sketches.to_arrays().items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ColumnSummary":
        state = cls.__new__(cls)
        state.moments = Moments.from_arrays(_prefixed(arrays, "moments."))
        state.sketches = QuantileSketches.from_arrays(_prefixed(arrays, "sketches."))
        return state


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
