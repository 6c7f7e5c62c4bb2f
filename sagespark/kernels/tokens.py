"""Batches of token lists (the input of the word-embedding and text stages), and their
words as vocabulary ids.

A batch keeps the tokens as one Arrow string array with row offsets, as an
``array<string>`` column arrives, so no row becomes a Python list: Arrow's hash kernels
count the words (``pyarrow.compute.dictionary_encode``) and look them up in a
vocabulary (``pyarrow.compute.index_in``) in C++.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Tokens:
    """Row i's tokens are ``values[offsets[i]:offsets[i+1]]``."""

    offsets: np.ndarray  # int64, rows + 1, offsets[0] == 0
    values: pa.Array  # string, no nulls

    @classmethod
    def of(cls, rows: Sequence[Sequence[str]]) -> "Tokens":
        """Tokens of Python lists of words (tests and small inputs)."""
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        return cls(offsets, pa.array([w for r in rows for w in r], pa.string()))

    @property
    def num_rows(self) -> int:
        return len(self.offsets) - 1

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, rows: np.ndarray) -> "Tokens":
        """The tokens of the given rows, in their order."""
        lengths = self.row_lengths()[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = np.repeat(self.offsets[rows] - offsets[:-1], lengths)
        return Tokens(offsets, self.values.take(pa.array(starts + np.arange(offsets[-1]))))

    def with_end_token(self, token: str) -> "Tokens":
        """Every row with ``token`` appended (fastText's end-of-line word)."""
        lengths, n = self.row_lengths(), len(self.values)
        offsets = self.offsets + np.arange(self.num_rows + 1)
        index = np.full(offsets[-1], n, dtype=np.int64)  # the end token where no word goes
        index[np.arange(n) + np.repeat(np.arange(self.num_rows), lengths)] = np.arange(n)
        values = pa.concat_arrays([self.values, pa.array([token], self.values.type)])
        return Tokens(offsets, values.take(pa.array(index)))

    def word_counts(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(the distinct words, the summed weights of their tokens; a row's weight counts
        once per token of the row, 1 when ``weights`` is None)."""
        encoded = pc.dictionary_encode(self.values)
        token_weights = None if weights is None else np.repeat(np.asarray(weights, np.float64), self.row_lengths())
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        words = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=str)
        return words, np.bincount(indices, token_weights, minlength=len(words)).astype(np.float64)

    def ids(self, vocabulary: pa.Array) -> np.ndarray:
        """Each token's index in ``vocabulary`` (int32), -1 for a word not in it."""
        if vocabulary.type != self.values.type:  # Spark sends large_string when its Arrow uses large types
            vocabulary = vocabulary.cast(self.values.type)
        found = pc.index_in(self.values, value_set=vocabulary)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int32)

    def hashes(self) -> np.ndarray:
        """Each token's 32-bit FNV-1a hash of its UTF-8 bytes, fastText's (each byte
        sign-extended before the xor, as fastText's ``int8_t`` cast does)."""
        values = self.values
        width = np.int64 if pa.types.is_large_string(values.type) else np.int32
        _, offsets, data = values.buffers()
        offsets = np.frombuffer(offsets, dtype=width)[values.offset : values.offset + len(values) + 1]
        data = np.frombuffer(data, dtype=np.int8) if data is not None else np.zeros(0, np.int8)
        return _fnv1a(offsets.astype(np.int64), data)


@numba.njit(cache=True, nogil=True)
def _fnv1a(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    out = np.empty(len(offsets) - 1, dtype=np.uint32)
    for t in range(len(offsets) - 1):
        h = np.uint32(2166136261)
        for b in range(offsets[t], offsets[t + 1]):
            h = (h ^ np.uint32(np.int64(data[b]) & 0xFFFFFFFF)) * np.uint32(16777619)
        out[t] = h
    return out


def char_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """fastText's character n-grams of a word: every n-gram of ``<word>`` (the word
    between boundary marks) with min_n <= n <= max_n characters, by start position,
    except the lone marks ("<" and ">")."""
    marked = f"<{word}>"
    return [marked[i : i + n] for i in range(len(marked)) for n in range(min_n, max_n + 1)
            if i + n <= len(marked) and not (n == 1 and (i == 0 or i + n == len(marked)))]  # fmt: skip


def subword_buckets(words: Sequence[str], min_n: int, max_n: int, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bucket ids): word i's character n-grams hash (fastText's FNV-1a) into
    the buckets ``ids[offsets[i]:offsets[i+1]]`` (int64, in ``0..buckets-1``), the ids
    fastText and gensim's FastText give them."""
    grams = Tokens.of([char_ngrams(word, min_n, max_n) for word in words])
    return grams.offsets, grams.hashes().astype(np.int64) % buckets
