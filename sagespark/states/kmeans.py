"""One-pass, mergeable k-means: a bounded set of weighted centers (a core set).

The state keeps at most ``capacity`` = k x extra_center_factor weighted centers. Per
mini-batch (SageMaker's mini-batch rule plus online facility location):

1. Assign every row x (weight w) to its nearest center j, at squared distance D^2(x).
2. Open x as a new center with probability min(1, w D^2(x) / f), where f is the facility
   cost (Liberty, Sriharsha & Sviridenko, "An Algorithm for Online K-Means Clustering").
   After k openings f doubles, so opening gets rarer as the centers fit the data.
3. Fold every other row into its center: c_j <- (W_j c_j + sum w x) / (W_j + sum w),
   i.e. c <- (1 - p) c + p mean(new), p = n_new / (n_old + n_new).
4. Above capacity, merge the pairs of centers whose merge raises the cost least (Ward).

The very first mini-batch seeds half the capacity (at least k) with centers chosen by
``init_method`` ('random' or 'kmeans++') at weight 0, then folds in as in step 3; the
other half fills with opened centers. ``half_life_time_size`` > 0 multiplies the old
weights by 0.5^(batch weight / half life) before each mini-batch, for drifting streams.

``merge`` is the union of the weighted centers, compressed back to capacity. Both the
total weight and the weighted mean of the data are preserved exactly by update and merge
(without decay). ``finalize(k)`` runs weighted k-means++ and weighted Lloyd on the
centers only, so any k up to the capacity comes from the same state.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

import numpy as np

from sagespark.kernels import CSRMatrix, Features, num_rows, row_slice, take_rows
from sagespark.kernels.kmeans import (
    center_sums,
    kmeans_plus_plus,
    nearest_centers,
    squared_norms,
    ward_compress,
    weighted_lloyd,
)
from sagespark.states.base import AUTO, State

INIT_METHODS = ("random", "kmeans++")
# SageMaker documents 'auto' without a value; ours: factor 10 (the top of SageMaker's
# tuning range 4-10) for k <= 40, shrinking so the capacity stays near 400 centers, never
# below 4 (the bottom of that range). See docs/kmeans.md for the measurement behind it.
_AUTO_CAPACITY = 400
_AUTO_TRIALS = 10


def resolve_extra_center_factor(value: str | int, k: int) -> int:
    """'auto' or a positive integer (as int or str) -> the integer factor."""
    if str(value) == AUTO:
        return int(max(4, min(10, -(-_AUTO_CAPACITY // max(k, 1)))))
    factor = int(value)
    if factor < 1:
        raise ValueError(f"extraCenterFactor must be 'auto' or an integer >= 1, got {value!r}")
    return factor


def resolve_num_trials(value: str | int) -> int:
    if str(value) == AUTO:
        return _AUTO_TRIALS
    trials = int(value)
    if trials < 1:
        raise ValueError(f"localLloydNumTrials must be 'auto' or an integer >= 1, got {value!r}")
    return trials


@dataclass(frozen=True)
class KMeansSolution:
    """The result of finalize: k centers, the weight each one represents, and the
    weighted k-means cost of the state's centers around them."""

    centers: np.ndarray
    weights: np.ndarray
    cost: float


class KMeansState(State):
    kind = "kmeans"

    def __init__(
        self,
        k: int,
        *,
        extra_center_factor: str | int = AUTO,
        mini_batch_size: int = 5000,
        init_method: str = "random",
        half_life_time_size: int = 0,
        seed: int = 0,
        stream_id: int = 0,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if init_method not in INIT_METHODS:
            raise ValueError(f"initMethod must be one of {INIT_METHODS}, got {init_method!r}")
        if mini_batch_size < 1:
            raise ValueError(f"miniBatchSize must be >= 1, got {mini_batch_size}")
        if half_life_time_size < 0:
            raise ValueError(f"halfLifeTimeSize must be >= 0, got {half_life_time_size}")
        self.k = int(k)
        self.capacity = int(k * resolve_extra_center_factor(extra_center_factor, k))
        self.mini_batch_size = int(mini_batch_size)
        self.init_method = init_method
        self.half_life_time_size = int(half_life_time_size)
        self.seed = int(seed) % 2**63  # Spark's default seeds may be negative
        self.stream_id = int(stream_id)
        self.n_features = -1
        self.centers = np.zeros((0, 0))
        self.weights = np.zeros(0)
        self.facility_cost = 0.0
        self.opened_since_doubling = 0
        self.batches_seen = 0
        self.weight_seen = 0.0

    @classmethod
    def new_for_partition(cls, partition: int, **params: Any) -> "KMeansState":
        return cls(stream_id=partition, **params)

    # ------------------------------------------------------------------ update
    def update(self, x: Features, weights: np.ndarray | None = None) -> "KMeansState":
        n = num_rows(x)
        if n == 0:
            return self
        self._check_features(x.shape[1])
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        for start in range(0, n, self.mini_batch_size):
            stop = min(n, start + self.mini_batch_size)
            self._update_mini_batch(row_slice(x, start, stop), weights[start:stop])
        return self

    def _check_features(self, n_features: int) -> None:
        if self.n_features < 0:
            self.n_features = n_features
            self.centers = np.zeros((0, n_features))
        elif n_features != self.n_features:
            raise ValueError(f"expected {self.n_features} features, found {n_features}")

    def _update_mini_batch(self, x: Features, w: np.ndarray) -> None:
        rng = np.random.default_rng([self.seed, self.stream_id, self.batches_seen])
        self.batches_seen += 1
        batch_weight = float(w.sum())
        if self.half_life_time_size > 0:
            self.weights *= 0.5 ** (batch_weight / self.half_life_time_size)
        x_sq = squared_norms(x)
        if len(self.centers) == 0:
            self._seed_centers(x, w, rng)
        labels, d2 = nearest_centers(x, self.centers, x_sq)
        if self.facility_cost <= 0:
            self.facility_cost = max(float(w @ d2), np.finfo(float).tiny) / self.k
        opened = rng.random(len(w)) * self.facility_cost < w * d2
        first_opened = len(self.centers)
        self._open(take_rows(x, opened), w[opened])
        rest = ~opened
        labels, d2 = labels[rest], d2[rest]
        if first_opened < len(self.centers):
            self._assign_to_opened(take_rows(x, rest), x_sq[rest], labels, d2, first_opened)
        self._fold(take_rows(x, rest), w[rest], labels)
        self.weight_seen += batch_weight
        if len(self.centers) > self.capacity:
            self.centers, self.weights = ward_compress(self.centers, self.weights, self.capacity)

    def _seed_centers(self, x: Features, w: np.ndarray, rng: np.random.Generator) -> None:
        candidates = np.flatnonzero(w > 0)
        count = min(max(self.k, self.capacity // 2), len(candidates))
        if self.init_method == "kmeans++":
            points = _dense(take_rows(x, candidates))
            chosen = candidates[kmeans_plus_plus(points, w[candidates], count, rng)]
        else:
            chosen = np.sort(rng.choice(candidates, size=count, replace=False))
        self.centers = _dense(take_rows(x, chosen))
        self.weights = np.zeros(count)

    def _fold(self, x: Features, w: np.ndarray, labels: np.ndarray) -> None:
        sums, totals = center_sums(x, w, labels, len(self.centers))
        hit = totals > 0
        new_weights = self.weights[hit] + totals[hit]
        self.centers[hit] = (
            self.weights[hit, None] * self.centers[hit] + sums[hit]
        ) / new_weights[:, None]
        self.weights[hit] = new_weights

    def _assign_to_opened(
        self, x: Features, x_sq: np.ndarray, labels: np.ndarray, d2: np.ndarray, first: int
    ) -> None:
        """Move rows to a center opened in this mini-batch where it is nearer (in place), so
        a newly seen cluster is not folded into a distant old center."""
        new_labels, new_d2 = nearest_centers(x, self.centers[first:], x_sq)
        nearer = new_d2 < d2
        labels[nearer] = new_labels[nearer] + first
        d2[nearer] = new_d2[nearer]

    def _open(self, x: Features, w: np.ndarray) -> None:
        if len(w) == 0:
            return
        self.centers = np.vstack([self.centers, _dense(x)])
        self.weights = np.concatenate([self.weights, w])
        self.opened_since_doubling += len(w)
        if self.opened_since_doubling >= self.k:
            self.facility_cost *= 2.0
            self.opened_since_doubling = 0

    # ------------------------------------------------------------------- merge
    def merge(self, other: "KMeansState") -> "KMeansState":
        if not isinstance(other, KMeansState):
            raise TypeError(f"cannot merge a k-means state with {type(other).__name__}")
        if other.n_features < 0:
            return self.copy()
        if self.n_features < 0:
            return other.copy()
        if other.n_features != self.n_features:
            raise ValueError(
                f"cannot merge k-means states of {self.n_features} and {other.n_features} features"
            )
        merged = self.copy()
        merged.capacity = max(self.capacity, other.capacity)
        merged.k = max(self.k, other.k)
        merged.centers = np.vstack([self.centers, other.centers])
        merged.weights = np.concatenate([self.weights, other.weights])
        merged.facility_cost = max(self.facility_cost, other.facility_cost)
        merged.opened_since_doubling = 0
        merged.batches_seen = self.batches_seen + other.batches_seen
        merged.weight_seen = self.weight_seen + other.weight_seen
        if len(merged.centers) > merged.capacity:
            merged.centers, merged.weights = ward_compress(
                merged.centers, merged.weights, merged.capacity
            )
        return merged

    def for_partition(self, partition: int) -> "KMeansState":
        """The start of another pass (epoch) on one partition: these centers at weight
        0, so each row counts once over the passes, and the partition's seed stream."""
        state = self.copy()
        state.weights = np.zeros_like(state.weights)
        state.stream_id, state.batches_seen, state.weight_seen = int(partition), 0, 0.0
        return state

    def copy(self) -> "KMeansState":
        return KMeansState.from_arrays(self.to_arrays())

    # ---------------------------------------------------------------- finalize
    def finalize(
        self,
        k: int | None = None,
        *,
        init_method: str = "kmeans++",
        max_iter: int = 300,
        tol: float = 1e-4,
        num_trials: str | int = AUTO,
        seed: int | None = None,
    ) -> KMeansSolution:
        """k centers by weighted k-means++ and weighted Lloyd on the state's centers,
        the best (lowest weighted cost) of ``num_trials`` runs. Touches no data."""
        k = self.k if k is None else int(k)
        if init_method not in INIT_METHODS:
            raise ValueError(
                f"localLloydInitMethod must be one of {INIT_METHODS}, got {init_method!r}"
            )
        if k > self.capacity:
            raise ValueError(
                f"k={k} exceeds this state's capacity of {self.capacity} centers; "
                "fit with a larger k or extraCenterFactor"
            )
        keep = self.weights > 0
        points, weights = self.centers[keep], self.weights[keep]
        if len(points) < k:
            raise ValueError(
                f"k={k} but the state holds only {len(points)} weighted centers "
                "(the data has fewer rows or distinct points than k)"
            )
        seed = self.seed if seed is None else int(seed) % 2**63
        best: tuple[np.ndarray, float] | None = None
        for trial in range(resolve_num_trials(num_trials)):
            rng = np.random.default_rng([seed, trial])
            if init_method == "kmeans++":
                start = points[kmeans_plus_plus(points, weights, k, rng)]
            else:
                start = points[rng.choice(len(points), size=k, replace=False)]
            centers, cost = weighted_lloyd(points, weights, start, max_iter, tol)
            if best is None or cost < best[1]:
                best = (centers, cost)
        centers, cost = best
        labels, _ = nearest_centers(points, centers)
        return KMeansSolution(centers, np.bincount(labels, weights, minlength=k), cost)

    # ----------------------------------------------------------- serialization
    _SCALARS = (
        "k", "capacity", "mini_batch_size", "half_life_time_size", "seed", "stream_id",
        "n_features", "opened_since_doubling", "batches_seen",
    )  # fmt: skip
    _FLOATS = ("facility_cost", "weight_seen")

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: np.array(getattr(self, name), dtype=np.int64) for name in self._SCALARS}
        arrays.update({name: np.array(getattr(self, name)) for name in self._FLOATS})
        arrays["init_method"] = np.array(self.init_method)
        arrays["centers"] = self.centers
        arrays["weights"] = self.weights
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "KMeansState":
        state = cls.__new__(cls)
        for name in cls._SCALARS:
            setattr(state, name, int(arrays[name]))
        for name in cls._FLOATS:
            setattr(state, name, float(arrays[name]))
        state.init_method = str(arrays["init_method"])
        centers = np.array(arrays["centers"], dtype=np.float64)
        # a state that never saw a valid row has no dimension yet (n_features = -1)
        state.centers = centers.reshape(-1, state.n_features) if state.n_features > 0 else np.zeros((0, 0))
        state.weights = np.array(arrays["weights"], dtype=np.float64)
        return state


def _dense(x: Features) -> np.ndarray:
    return x.to_dense() if isinstance(x, CSRMatrix) else np.array(x, dtype=np.float64)


# What a KMeansModel ships to the workers (transform and computeCost): scorers of a batch.
def kmeans_scores(features: Features, centers: np.ndarray) -> dict[str, np.ndarray]:
    """Per row: the nearest center's index and the Euclidean distance to it."""
    labels, d2 = nearest_centers(features, centers)
    return {"prediction": labels.astype(np.int32), "distance": np.sqrt(d2)}


def kmeans_cost_sums(features: Features, weights: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """[sum w D^2(x), sum w] of a batch: the weighted cost against ``centers``."""
    _, d2 = nearest_centers(features, centers)
    return np.array([weights @ d2, weights.sum()])
