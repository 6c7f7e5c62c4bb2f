"""A corpus's vocabulary as a mergeable state: (weighted) token counts per word.

The first pass of the word-embedding and text-classification stages (issue 23): the
counts give minCount, the frequency order of the words, word2vec's subsampling
probabilities and its unigram^0.75 negative-sampling distribution.

- ``capacity=0``: exact counts of every word (sorted unique words and their counts;
  an update or a merge adds by word).
- ``capacity=m``: a Misra-Gries summary of at most m words (Misra & Gries 1982; mergeable
  as in Agarwal, Cormode, Huang, Phillips, Wei & Yi, "Mergeable summaries", PODS 2012):
  after adding, if more than m words are held, the (m+1)-th largest count is subtracted
  from every count and the words left at 0 or below are dropped. Each kept count
  underestimates its word's true count by at most ``error`` (the sum of what was
  subtracted), error <= (tokens - kept counts) / (m + 1), and every word whose true
  count exceeds ``error`` is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sagespark.kernels.tokens import Tokens
from sagespark.states.base import State


@dataclass(frozen=True)
class Vocabulary:
    """finalize(): the kept words, most frequent first (ties by the word), their counts,
    and the tokens of the whole corpus."""

    words: np.ndarray  # str
    counts: np.ndarray  # float64, decreasing
    tokens: float
    error: float  # each count is at most this much below the word's true count


class VocabularyCounts(State):
    """See the module docstring. ``update(tokens, weights)`` takes a batch of token
    lists and, optionally, a weight per row (counted once per token of the row)."""

    kind: ClassVar[str] = "vocabulary_counts"

    def __init__(self, capacity: int = 0) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be 0 (exact counts) or > 0 words, got {capacity}")
        self.capacity = int(capacity)
        self.words = np.array([], dtype=str)
        self.counts = np.zeros(0)
        self.tokens, self.error = 0.0, 0.0

    def update(self, tokens: Tokens, weights: np.ndarray | None = None) -> "VocabularyCounts":
        if weights is not None and len(weights) != tokens.num_rows:
            raise ValueError(f"got {len(weights)} weights for {tokens.num_rows} rows")
        words, counts = tokens.word_counts(weights)
        self._add(words, counts, float(counts.sum()), 0.0)
        return self

    def merge(self, other: "VocabularyCounts") -> "VocabularyCounts":
        if not isinstance(other, VocabularyCounts):
            raise TypeError(f"cannot merge a vocabulary_counts state with {getattr(other, 'kind', type(other).__name__)}")
        if other.capacity != self.capacity:
            raise ValueError(f"cannot merge vocabulary counts of capacity {self.capacity} and {other.capacity}")
        merged = VocabularyCounts.from_arrays(self.to_arrays())
        merged._add(other.words, other.counts, other.tokens, other.error)
        return merged

    def _add(self, words: np.ndarray, counts: np.ndarray, tokens: float, error: float) -> None:
        """Add distinct ``words`` with their counts, then reduce to the capacity."""
        together = np.concatenate([self.words, words])
        unique, inverse = np.unique(together, return_inverse=True)
        self.words = unique
        self.counts = np.bincount(inverse, np.concatenate([self.counts, counts]), minlength=len(unique))
        self.tokens += tokens
        self.error += error
        if self.capacity and len(self.words) > self.capacity:
            cut = np.partition(self.counts, len(self.counts) - self.capacity - 1)[len(self.counts) - self.capacity - 1]
            kept = self.counts > cut
            self.words, self.counts = self.words[kept], self.counts[kept] - cut
            self.error += cut

    def finalize(self, min_count: float = 0.0, max_words: int = 0) -> Vocabulary:
        """The words counted at least ``min_count`` times, most frequent first, at most
        ``max_words`` of them (0: all)."""
        order = np.lexsort((self.words, -self.counts))
        order = order[self.counts[order] >= min_count]
        if max_words:
            order = order[:max_words]
        return Vocabulary(self.words[order], self.counts[order], self.tokens, self.error)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"capacity": np.array(self.capacity), "words": self.words, "counts": self.counts,
                "tokens": np.array(self.tokens), "error": np.array(self.error)}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "VocabularyCounts":
        state = cls(int(arrays["capacity"]))
        state.words = np.asarray(arrays["words"], dtype=str)
        state.counts = np.asarray(arrays["counts"], dtype=np.float64)
        if state.words.shape != state.counts.shape or state.words.ndim != 1:
            raise ValueError(f"vocabulary_counts state has {state.words.shape} words and {state.counts.shape} counts")
        state.tokens, state.error = float(arrays["tokens"]), float(arrays["error"])
        return state


def subsampling_keep_probabilities(counts: np.ndarray, tokens: float, threshold: float) -> np.ndarray:
    """word2vec's probability of keeping each occurrence of a word of frequency
    f = count / tokens: min(1, sqrt(t / f) + t / f) (Mikolov et al.'s C code; 1 when t = 0)."""
    if threshold <= 0:
        return np.ones(len(counts))
    ratio = threshold / (np.asarray(counts, dtype=np.float64) / tokens)
    return np.minimum(1.0, np.sqrt(ratio) + ratio)


def negative_sampling_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The noise distribution of negative sampling: count^power, normalized."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()
