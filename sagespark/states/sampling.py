"""A fixed-size weighted reservoir sample that merges exactly.

Efraimidis & Spirakis (2006), algorithm A-Res: give every row the key u^(1/w), u uniform
in (0, 1), and keep the ``size`` rows with the largest keys. Row i is then in the sample
with the probabilities of weighted sampling without replacement (w_i against the rest).
Keys are independent per row, so the top ``size`` of two reservoirs' union is exactly the
reservoir of the union of their streams: merge is exact and order-free. We keep
log(u) / w (same order, no underflow). Rows of weight 0 are never sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

import numpy as np

from sagespark.kernels import CSRMatrix, Features, take_rows, vstack
from sagespark.states.base import State


def sampling_keys(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A-Res keys log(u) / w; -inf for a weight of 0 (never chosen)."""
    w = np.asarray(weights, dtype=np.float64)
    u = rng.random(len(w))
    with np.errstate(divide="ignore"):
        return np.where(w > 0, np.log1p(-u) / np.where(w > 0, w, 1.0), -np.inf)


def top_keys(keys: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` largest finite keys, largest first (ties by position)."""
    candidates = np.flatnonzero(np.isfinite(keys))
    if len(candidates) > size:
        part = np.argpartition(-keys[candidates], size - 1)[:size]
        candidates = candidates[part]
    return candidates[np.lexsort((candidates, -keys[candidates]))]


def _same_layout(a: Features, b: Features) -> list[Features]:
    """[a, b] both dense or, when either is CSR, both CSR (batches of one vector column
    can differ: a batch with any sparse row decodes to CSR)."""
    if isinstance(a, np.ndarray) == isinstance(b, np.ndarray):
        return [a, b]
    return [CSRMatrix.from_dense(p) if isinstance(p, np.ndarray) else p for p in (a, b)]


@dataclass(frozen=True)
class Sample:
    """finalize(): the sampled rows (largest key first), their weights and payloads."""

    features: Features
    weights: np.ndarray
    values: np.ndarray  # (rows, payload columns); 0 columns when no payload was given
    rows_seen: int
    weight_seen: float


class ReservoirSample(State):
    """Up to ``size`` rows, sampled with probability proportional to weight, each with
    an optional payload row (a label, an id) that travels with it."""

    kind = "reservoir_sample"

    def __init__(self, size: int, seed: int = 0, stream_id: int = 0) -> None:
        if int(size) < 1:
            raise ValueError(f"the sample size must be >= 1, got {size}")
        self.size = int(size)
        self.seed, self.stream_id = int(seed) % 2**63, int(stream_id)
        self.batches_seen, self.rows_seen, self.weight_seen = 0, 0, 0.0
        self.keys = np.zeros(0)
        self.weights = np.zeros(0)
        self.features: Features | None = None
        self.values = np.zeros((0, 0))

    @classmethod
    def new_for_partition(cls, partition: int, **params: Any) -> "ReservoirSample":
        return cls(stream_id=partition, **params)

    def update(
        self, x: Features, weights: np.ndarray | None = None, values: np.ndarray | None = None
    ) -> "ReservoirSample":
        n = x.shape[0]
        if n == 0:
            return self
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        payload = np.zeros((n, 0)) if values is None else np.asarray(values, dtype=np.float64).reshape(n, -1)
        rng = np.random.default_rng([self.seed, self.stream_id, self.batches_seen])
        self.batches_seen += 1
        self.rows_seen += n
        self.weight_seen += float(w.sum())
        self._keep_top(sampling_keys(w, rng), w, x, payload)
        return self

    def _keep_top(self, keys: np.ndarray, w: np.ndarray, x: Features, payload: np.ndarray) -> None:
        if self.features is not None:
            if x.shape[1] != self.features.shape[1]:
                raise ValueError(f"expected {self.features.shape[1]} features, found {x.shape[1]}")
            if payload.shape[1] != self.values.shape[1]:
                raise ValueError(f"expected {self.values.shape[1]} payload columns, found {payload.shape[1]}")
            keys = np.concatenate([self.keys, keys])
            w = np.concatenate([self.weights, w])
            x = vstack(_same_layout(self.features, x))
            payload = np.vstack([self.values, payload])
        keep = top_keys(keys, self.size)
        self.keys, self.weights, self.values = keys[keep], w[keep], payload[keep]
        self.features = take_rows(x, keep)

    def merge(self, other: "ReservoirSample") -> "ReservoirSample":
        if not isinstance(other, ReservoirSample):
            raise TypeError(f"cannot merge a reservoir sample with {type(other).__name__}")
        if other.size != self.size:
            raise ValueError(f"cannot merge samples of size {self.size} and {other.size}")
        merged = self.copy()
        if other.features is None:
            return merged
        if merged.features is None:
            return other.copy()
        merged.batches_seen += other.batches_seen
        merged.rows_seen += other.rows_seen
        merged.weight_seen += other.weight_seen
        merged._keep_top(other.keys, other.weights, other.features, other.values)
        return merged

    def copy(self) -> "ReservoirSample":
        return type(self).from_arrays(self.to_arrays())

    def finalize(self) -> Sample:
        if self.features is None:
            raise ValueError("no rows were sampled")
        return Sample(self.features, self.weights.copy(), self.values.copy(), self.rows_seen, self.weight_seen)

    # ----------------------------------------------------------- serialization
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "size": np.array(self.size), "seed": np.array(self.seed), "stream_id": np.array(self.stream_id),
            "batches_seen": np.array(self.batches_seen), "rows_seen": np.array(self.rows_seen),
            "weight_seen": np.array(self.weight_seen), "keys": self.keys, "weights": self.weights,
            "values": self.values,
        }  # fmt: skip
        if isinstance(self.features, CSRMatrix):
            arrays.update(layout=np.array("csr"), indptr=self.features.indptr, indices=self.features.indices,
                          data=self.features.data, n_cols=np.array(self.features.n_cols))  # fmt: skip
        elif self.features is not None:
            arrays.update(layout=np.array("dense"), dense=self.features)
        else:
            arrays.update(layout=np.array("empty"))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ReservoirSample":
        state = cls(int(arrays["size"]), 0, int(arrays["stream_id"]))
        state.seed = int(arrays["seed"])
        state.batches_seen, state.rows_seen = int(arrays["batches_seen"]), int(arrays["rows_seen"])
        state.weight_seen = float(arrays["weight_seen"])
        state.keys = np.array(arrays["keys"], dtype=np.float64)
        state.weights = np.array(arrays["weights"], dtype=np.float64)
        state.values = np.array(arrays["values"], dtype=np.float64)
        layout = str(arrays["layout"])
        if layout == "csr":
            state.features = CSRMatrix(np.array(arrays["indptr"]), np.array(arrays["indices"]),
                                       np.array(arrays["data"]), int(arrays["n_cols"]))  # fmt: skip
        elif layout == "dense":
            state.features = np.array(arrays["dense"], dtype=np.float64)
        return state
