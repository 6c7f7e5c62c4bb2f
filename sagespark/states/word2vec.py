"""word2vec as a multi-pass state: a vocabulary pass, then training rounds whose
partitions train from the same model and whose changes the driver merges (issue 23).

- Pass 1 counts the corpus's words (``VocabularyCounts``). ``next_pass`` keeps the
  words counted at least ``min_count`` times, most frequent first, and starts the model:
  word vectors uniform in +-0.5/d (word2vec's), output vectors 0.
- Every later pass is one round: each partition trains (sagespark.kernels.word2vec) on
  the rows of the round (rows are hashed into ``rounds`` rounds per epoch) from the
  model the driver broadcast, and ships only the rows it changed, as a
  ``Word2VecRound``: per row its change and the number of steps that made it. Rounds
  merge by adding; the next round's model moves each changed row v by

  - ``'saturating'`` (the default): each step moves a row a fraction c = 1/SATURATION_STEPS
    of its way to a target, so n steps move it s(n) = 1 - (1 - c)^n of the way. Each
    partition's change Delta_p / s(n_p) estimates the way; the row moves s(N) times
    their mean over the P_v partitions that changed it, N = sum_p n_p being the steps
    one trainer of all the data would have taken. A row changed by few steps moves by
    the sum of the changes (as sequential SGD would), one changed by many steps by
    their mean.
  - ``'average'``: sum_p Delta_p / P_v (the rule of SPARK-24666, the fix of MLlib's
    Word2Vec): stable, but a row every partition changed makes 1/P of the progress of
    one trainer.
  - ``'sum'``: sum_p Delta_p (MLlib's rule before that fix): the vectors of frequent
    words diverge once several partitions train them.

  docs/word2vec.md has the measurements behind the default.
- The learning rate decays linearly on the words all partitions have read: a partition
  counts its own words times the number of partitions training beside it (Ji et al.'s
  global word count), so a fit's rate schedule does not depend on the partitions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar

import numpy as np
import pyarrow as pa

from sagespark.kernels.tokens import Tokens
from sagespark.kernels.word2vec import MODES, document_means, train_sentences
from sagespark.states.base import State
from sagespark.states.vocabulary import (
    VocabularyCounts, negative_sampling_distribution, subsampling_keep_probabilities,
)  # fmt: skip

MERGE_RULES = ("saturating", "average", "sum")
SATURATION_STEPS = 100.0  # the saturating merge's 1/c (measured: docs/word2vec.md)
ROUNDS_PER_PARTITION = 4  # auto rounds per epoch: this many per partition training
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def _mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): seeds and round assignments."""
    z = 0
    for value in values:
        z = (z + (int(value) + 1) * _GOLDEN) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z ^= z >> 31
    return z


@dataclass(frozen=True)
class Word2VecConfig:
    """The hyperparameters (Word2Vec's params, in the words of the word2vec papers)."""

    vector_size: int = 100
    window: int = 5
    min_count: float = 5.0
    max_vocabulary: int = 0  # 0: exact counts; m: a Misra-Gries summary of m words
    mode: str = "batch_skipgram"
    negative: int = 5
    sample: float = 1e-4
    batch_size: int = 11
    epochs: int = 5
    rounds: int = 0  # training rounds (passes) per epoch; 0: auto_rounds of the corpus
    step_size: float = 0.05
    max_sentence_length: int = 1000
    seed: int = 0
    merge_rule: str = "saturating"

    def __post_init__(self) -> None:
        checks = {
            "vectorSize": self.vector_size >= 1, "windowSize": self.window >= 1, "minCount": self.min_count >= 0,
            "negativeSamples": self.negative >= 1, "samplingThreshold": self.sample >= 0,
            "batchSize": self.batch_size >= 1, "maxIter": self.epochs >= 1, "roundsPerEpoch": self.rounds >= 0,
            "stepSize": self.step_size > 0, "maxSentenceLength": self.max_sentence_length >= 2,
            "maxVocabularySize": self.max_vocabulary >= 0,
        }  # fmt: skip
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid word2vec params {bad}: {self}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {self.mode!r}")
        if self.merge_rule not in MERGE_RULES:
            raise ValueError(f"roundMerge must be one of {MERGE_RULES}, got {self.merge_rule!r}")


@dataclass(frozen=True)
class Word2VecSolution:
    words: np.ndarray  # str, most frequent first
    counts: np.ndarray  # float64
    vectors: np.ndarray  # float32, one row per word


class Word2VecState(State):
    """See the module docstring. ``passes`` is the number of passes already merged into
    the state (0: none; 1: the vocabulary; 1 + r: r training rounds)."""

    kind: ClassVar[str] = "word2vec"

    def __init__(self, config: Word2VecConfig) -> None:
        self.config = config
        self.passes = 0
        self.partitions = 0  # partitions merged into the last pass
        self.vocabulary = VocabularyCounts(config.max_vocabulary)
        self.words = np.array([], dtype=str)
        self.counts = np.zeros(0)
        self.w_in = self.w_out = np.zeros((0, config.vector_size), np.float32)
        self.words_read = 0.0  # in-vocabulary words all training rounds read
        self._partition: _PartitionRound | None = None

    @classmethod
    def new_for_partition(cls, partition: int, **params) -> "Word2VecState":
        state = cls(Word2VecConfig(**params))
        state.partitions = 1
        return state

    @property
    def training(self) -> bool:
        return self.passes >= 1

    @property
    def total_passes(self) -> int:
        return 1 + self.config.epochs * self.config.rounds

    def update(self, tokens: Tokens, weights: np.ndarray | None = None) -> "Word2VecState":
        """Count the batch's words (the vocabulary pass) or train on its rows of this
        round (a partition's state of a training round). Row weights are not used."""
        if not self.training:
            self.vocabulary.update(tokens)
        elif self._partition is None:
            raise ValueError("a word2vec model trains on a partition's state (for_partition), not on the merged one")
        else:
            self._partition.train(self, tokens)
        return self

    def merge(self, other: "Word2VecState") -> "Word2VecState":
        if not isinstance(other, Word2VecState) or other.config != self.config:
            raise ValueError("cannot merge word2vec states of different params")
        if self.training or other.training:
            raise ValueError("trained word2vec states do not merge: their rounds merge (Word2VecRound)")
        merged = Word2VecState(self.config)
        merged.vocabulary = self.vocabulary.merge(other.vocabulary)
        merged.partitions = self.partitions + other.partitions
        return merged

    def next_pass(self) -> "Word2VecState":
        """After the vocabulary pass: the model that the first round starts from."""
        if self.training:
            return self
        vocabulary = self.vocabulary.finalize(self.config.min_count)
        if len(vocabulary.words) == 0:
            seen = self.vocabulary.counts
            most = f"; the most frequent word occurs {seen.max():g} times" if len(seen) else ""
            raise ValueError(f"the vocabulary is empty: no word of the {len(seen)} distinct words occurs at least "
                             f"minCount={self.config.min_count:g} times{most}; lower minCount")  # fmt: skip
        rounds = self.config.rounds or auto_rounds(self.partitions)
        started = Word2VecState(replace(self.config, rounds=rounds))
        started.passes, started.partitions = 1, self.partitions
        started.words, started.counts = vocabulary.words, vocabulary.counts
        d = self.config.vector_size
        rng = np.random.default_rng(_mix(self.config.seed, 0))
        started.w_in = ((rng.random((len(vocabulary.words), d)) - 0.5) / d).astype(np.float32)
        started.w_out = np.zeros((len(vocabulary.words), d), np.float32)
        return started

    def for_partition(self, partition: int) -> "Word2VecState":
        if not self.training:
            raise ValueError("a word2vec state trains after its vocabulary pass (next_pass)")
        state = Word2VecState.from_arrays(self.to_arrays())
        state.w_in, state.w_out = self.w_in.copy(), self.w_out.copy()
        state._partition = _PartitionRound(self, partition)
        return state

    def partition_result(self) -> State:
        return self if self._partition is None else self._partition.result(self)

    def finalize(self) -> Word2VecSolution:
        if not self.training:
            raise ValueError("a word2vec state has no vectors before its vocabulary pass")
        return Word2VecSolution(self.words, self.counts, self.w_in)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"config_{k}": np.array(v) for k, v in asdict(self.config).items()}
        arrays.update(passes=np.array(self.passes), partitions=np.array(self.partitions),
                      words=self.words, counts=self.counts, w_in=self.w_in, w_out=self.w_out,
                      words_read=np.array(self.words_read))  # fmt: skip
        arrays.update({f"vocabulary_{k}": v for k, v in self.vocabulary.to_arrays().items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Word2VecState":
        config = Word2VecConfig(**{f.name: type(f.default)(arrays[f"config_{f.name}"].item())
                                   for f in fields(Word2VecConfig)})  # fmt: skip
        state = cls(config)
        state.passes, state.partitions = int(arrays["passes"]), int(arrays["partitions"])
        state.words = np.asarray(arrays["words"], dtype=str)
        state.counts = np.asarray(arrays["counts"], dtype=np.float64)
        state.w_in = np.ascontiguousarray(arrays["w_in"], dtype=np.float32)
        state.w_out = np.ascontiguousarray(arrays["w_out"], dtype=np.float32)
        shape = (len(state.words), config.vector_size)
        if state.w_in.shape != shape or state.w_out.shape != shape or state.counts.shape != state.words.shape:
            raise ValueError(f"word2vec state has {len(state.words)} words, {state.counts.shape} counts and "
                             f"vectors {state.w_in.shape}/{state.w_out.shape}; expected {shape}")  # fmt: skip
        state.words_read = float(arrays["words_read"])
        prefix = "vocabulary_"
        state.vocabulary = VocabularyCounts.from_arrays({k[len(prefix):]: v for k, v in arrays.items()
                                                         if k.startswith(prefix)})  # fmt: skip
        return state


class _PartitionRound:
    """What one partition's training round keeps beside its copy of the model: the
    model it started from, the steps that changed each row, the sampling tables and
    the words it read."""

    def __init__(self, start: Word2VecState, partition: int) -> None:
        config = start.config
        self.partition = partition
        self.start_in, self.start_out = start.w_in, start.w_out
        self.steps_in, self.steps_out = np.zeros(len(start.words)), np.zeros(len(start.words))
        self.vocabulary = pa.array(start.words.tolist(), pa.string())
        self.keep = subsampling_keep_probabilities(start.counts, start.counts.sum(), config.sample)
        self.cumulative = np.cumsum(negative_sampling_distribution(start.counts))
        self.round = (start.passes - 1) % config.rounds
        self.total = config.epochs * float(start.counts.sum())
        self.scale = float(max(start.partitions, 1))
        self.rows_seen = self.batches = 0
        self.read = 0.0

    def rows_of_round(self, tokens: Tokens, rounds: int, seed: int) -> Tokens:
        """The batch's rows that this round trains on (a hash of the row's position in
        the partition picks its round)."""
        if rounds == 1:
            return tokens
        index = np.arange(self.rows_seen, self.rows_seen + tokens.num_rows, dtype=np.uint64)
        mixed = (index + np.uint64(_mix(seed, self.partition))) * np.uint64(_GOLDEN)
        mixed ^= mixed >> np.uint64(31)
        return tokens.take(np.flatnonzero(mixed % np.uint64(rounds) == np.uint64(self.round)))

    def train(self, state: Word2VecState, tokens: Tokens) -> None:
        config = state.config
        mine = self.rows_of_round(tokens, config.rounds, config.seed)
        self.rows_seen += tokens.num_rows
        self.batches += 1
        seed = _mix(config.seed, state.passes, self.partition, self.batches) % (1 << 31)
        self.read += train_sentences(
            mine.ids(self.vocabulary), mine.offsets, self.keep, self.cumulative, state.w_in, state.w_out,
            self.steps_in, self.steps_out, MODES[config.mode], config.window, config.negative, config.batch_size,
            config.max_sentence_length, config.step_size, state.words_read + self.read * self.scale, self.total,
            self.scale, seed,
        )  # fmt: skip

    def result(self, state: Word2VecState) -> "Word2VecRound":
        """The changed rows: their changes (divided by s(steps) for the saturating
        merge) and their steps, input and output vectors apart."""
        rows = np.flatnonzero((self.steps_in > 0) | (self.steps_out > 0))
        changes = []
        for w, start, steps in ((state.w_in, self.start_in, self.steps_in), (state.w_out, self.start_out, self.steps_out)):
            change = w[rows] - start[rows]
            if state.config.merge_rule == "saturating":
                change /= np.maximum(saturation(steps[rows]), 1e-30)[:, None].astype(np.float32)
            changes.append(change)
        return Word2VecRound(rows, *changes, self.steps_in[rows], self.steps_out[rows], self.read, 1)


def saturation(steps: np.ndarray) -> np.ndarray:
    """s(n) = 1 - (1 - c)^n: the fraction of its way to a target that n steps move a row."""
    return -np.expm1(np.asarray(steps, np.float64) * np.log1p(-1.0 / SATURATION_STEPS))


class Word2VecRound(State):
    """One training round's merged partition results: the rows changed and, input and
    output vectors apart, the sums of their (saturating: scaled) changes, of their
    steps and of the partitions that changed them; the words read and the partitions
    merged."""

    kind: ClassVar[str] = "word2vec_round"
    _PER_ROW = ("change_in", "change_out", "steps_in", "steps_out", "parts_in", "parts_out")

    def __init__(self, rows, change_in, change_out, steps_in, steps_out, words_read: float, partitions: int,
                 parts_in=None, parts_out=None) -> None:  # fmt: skip
        self.rows = np.asarray(rows, dtype=np.int64)
        self.change_in, self.change_out = np.asarray(change_in, np.float32), np.asarray(change_out, np.float32)
        self.steps_in, self.steps_out = np.asarray(steps_in, np.float64), np.asarray(steps_out, np.float64)
        self.parts_in = (self.steps_in > 0).astype(np.float64) if parts_in is None else np.asarray(parts_in, np.float64)
        self.parts_out = (self.steps_out > 0).astype(np.float64) if parts_out is None else np.asarray(parts_out, np.float64)
        self.words_read, self.partitions = float(words_read), int(partitions)

    def update(self, tokens: Tokens, weights: np.ndarray | None = None) -> "Word2VecRound":
        raise ValueError("a word2vec round is the merge of partition results; a partition trains a Word2VecState")

    def merge(self, other: "Word2VecRound") -> "Word2VecRound":
        rows = np.union1d(self.rows, other.rows)
        mine, theirs = np.searchsorted(rows, self.rows), np.searchsorted(rows, other.rows)
        summed = {}
        for name in self._PER_ROW:
            a, b = getattr(self, name), getattr(other, name)
            total = np.zeros((len(rows),) + a.shape[1:], a.dtype)
            total[mine] += a
            total[theirs] += b
            summed[name] = total
        return Word2VecRound(rows, words_read=self.words_read + other.words_read,
                             partitions=self.partitions + other.partitions, **summed)  # fmt: skip

    def completed_from(self, start: Word2VecState) -> Word2VecState:
        """The model after this round (the merge rule of the module docstring)."""
        state = Word2VecState.from_arrays(start.to_arrays())
        state.w_in, state.w_out = start.w_in.copy(), start.w_out.copy()
        rule = start.config.merge_rule
        for w, change, steps, parts in ((state.w_in, self.change_in, self.steps_in, self.parts_in),
                                        (state.w_out, self.change_out, self.steps_out, self.parts_out)):  # fmt: skip
            if rule == "sum":
                factor = np.ones(len(parts))
            elif rule == "average":
                factor = 1.0 / np.maximum(parts, 1)
            else:
                factor = saturation(steps) / np.maximum(parts, 1)
            w[self.rows] += change * factor.astype(np.float32)[:, None]
        state.passes, state.partitions = start.passes + 1, self.partitions
        state.words_read = start.words_read + self.words_read
        return state

    def finalize(self) -> "Word2VecRound":
        return self

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in self._PER_ROW}
        return {"rows": self.rows, **arrays, "words_read": np.array(self.words_read),
                "partitions": np.array(self.partitions)}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Word2VecRound":
        rows = np.asarray(arrays["rows"])
        if any(len(arrays[name]) != len(rows) for name in cls._PER_ROW):
            raise ValueError(f"word2vec_round state has {len(rows)} rows but per-row arrays of other lengths")
        return cls(rows, words_read=float(arrays["words_read"]), partitions=int(arrays["partitions"]),
                   **{name: arrays[name] for name in cls._PER_ROW})  # fmt: skip


def auto_rounds(partitions: int) -> int:
    """Rounds per epoch when roundsPerEpoch='auto': ROUNDS_PER_PARTITION per partition,
    one when a single partition trains (nothing to merge)."""
    return 1 if partitions <= 1 else ROUNDS_PER_PARTITION * partitions


def document_vectors(tokens: Tokens, vocabulary: pa.Array, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """transform's scorer: each row's mean word vector over its words in the vocabulary
    (zeros for a row with none, as MLlib's Word2VecModel)."""
    return {"vector": document_means(tokens.ids(vocabulary), tokens.offsets, vectors)}
