"""Small synthetic data shared by the tests (numpy only; no JVM)."""

from __future__ import annotations

import numpy as np


def blobs(n: int = 3000, d: int = 4, centers: int = 5, seed: int = 0, spread: float = 8.0) -> np.ndarray:
    """Gaussian blobs of unequal sizes, rows shuffled."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, spread, (centers, d))
    sizes = rng.multinomial(n, rng.dirichlet(np.full(centers, 3.0)))
    x = np.vstack([rng.normal(m, 1.0, (s, d)) for m, s in zip(means, sizes)])
    return x[rng.permutation(n)]


def kmeans_cost(x: np.ndarray, centers: np.ndarray) -> float:
    """Exact sum of squared distances to the nearest center (brute force)."""
    d2 = ((x[:, None, :] - np.asarray(centers)[None, :, :]) ** 2).sum(-1)
    return float(d2.min(axis=1).sum())
