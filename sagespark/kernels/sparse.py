"""A minimal CSR matrix, so sparse input never has to be densified.

We keep our own three-array container instead of depending on scipy: the kernels only
need row slicing, row selection and the raw buffers, and numba reads the buffers directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np


@dataclass(frozen=True)
class CSRMatrix:
    """Compressed sparse rows: row i holds ``data[indptr[i]:indptr[i+1]]`` at columns
    ``indices[indptr[i]:indptr[i+1]]``. Column indices within a row need not be sorted."""

    indptr: np.ndarray  # int64, length n_rows + 1, indptr[0] == 0
    indices: np.ndarray  # int32
    data: np.ndarray  # float64
    n_cols: int

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.indptr) - 1, self.n_cols)

    def to_dense(self) -> np.ndarray:
        """Dense copy (tests and tiny inputs only)."""
        n = self.shape[0]
        out = np.zeros((n, self.n_cols))
        rows = np.repeat(np.arange(n), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices), self.data)
        return out

    @classmethod
    def from_dense(cls, x: np.ndarray) -> "CSRMatrix":
        rows, cols = np.nonzero(x)
        indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=x.shape[0]), out=indptr[1:])
        return cls(indptr, cols.astype(np.int32), x[rows, cols].astype(np.float64), x.shape[1])


Features = Union[np.ndarray, CSRMatrix]


def num_rows(x: Features) -> int:
    return x.shape[0]


def row_slice(x: Features, start: int, stop: int) -> Features:
    """Rows ``start:stop`` without copying the values."""
    if isinstance(x, np.ndarray):
        return x[start:stop]
    lo, hi = x.indptr[start], x.indptr[stop]
    return CSRMatrix(x.indptr[start : stop + 1] - lo, x.indices[lo:hi], x.data[lo:hi], x.n_cols)


def take_rows(x: Features, rows: np.ndarray) -> Features:
    """The rows selected by an integer index array or a boolean mask, in order."""
    if isinstance(x, np.ndarray):
        return x[rows]
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    starts, stops = x.indptr[rows], x.indptr[rows + 1]
    lengths = stops - starts
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    return CSRMatrix(indptr, x.indices[positions], x.data[positions], x.n_cols)


def vstack(parts: list[Features]) -> Features:
    """Rows of every part, in order (all dense or all CSR, with equal column counts)."""
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.vstack(parts)
    if not all(isinstance(p, CSRMatrix) for p in parts):
        raise TypeError("cannot stack dense and sparse rows together")
    offsets = np.cumsum([0] + [len(p.data) for p in parts[:-1]])
    indptr = np.concatenate([[0]] + [p.indptr[1:] + o for p, o in zip(parts, offsets)])
    return CSRMatrix(
        indptr.astype(np.int64),
        np.concatenate([p.indices for p in parts]).astype(np.int32),
        np.concatenate([p.data for p in parts]).astype(np.float64),
        parts[0].n_cols,
    )
