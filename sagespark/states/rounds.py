"""States trained in rounds on every partition: a vocabulary pass, then rounds whose
partitions train from the same model and whose changes the driver merges (issue 23).
word2vec (sagespark.states.word2vec) and the fastText text classifier
(sagespark.states.text_classifier) are two such states; this module holds what they
share.

- Pass 1 counts the corpus's words (``VocabularyCounts``). ``next_pass`` keeps the
  words counted at least ``min_count`` times, most frequent first, and starts the model
  (two float32 matrices: ``w_in``, the input rows, and ``w_out``, the output rows).
- Every later pass is one round: each partition trains on the rows of the round (rows
  are hashed into ``rounds`` rounds per epoch: by the Spark fit's filter when the config
  says ``rows_by_round``, else by ``PartitionRound.rows_of_round``) from the model the
  driver broadcast, and ships only the rows it changed, as a ``Word2VecRound``: per
  row its change and the number of steps that made it. Rounds merge by adding; the
  next round's model moves each changed row v by

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
- The learning rate decays linearly on the tokens all partitions have read: a partition
  counts its own tokens times the number of partitions training beside it (Ji et al.'s
  global word count), so a fit's rate schedule does not depend on the partitions.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from sagespark.kernels.tokens import Tokens
from sagespark.states.base import State
from sagespark.states.vocabulary import Vocabulary, VocabularyCounts

MERGE_RULES = ("saturating", "average", "sum")
SATURATION_STEPS = 100.0  # the saturating merge's 1/c (measured: docs/word2vec.md)
ROUNDS_PER_PARTITION = 4  # auto rounds per epoch: this many per partition training
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): seeds and round assignments."""
    z = 0
    for value in values:
        z = (z + (int(value) + 1) * _GOLDEN) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z ^= z >> 31
    return z


def check_rounds_config(config: Any, checks: dict[str, bool]) -> None:
    """One error naming every invalid param (by its Spark name), the shared ones
    included; configs have epochs, rounds, min_count, step_size, max_vocabulary,
    vector_size and merge_rule."""
    checks = {"vectorSize": config.vector_size >= 1, "minCount": config.min_count >= 0,
              "maxIter": config.epochs >= 1, "roundsPerEpoch": config.rounds >= 0, "stepSize": config.step_size > 0,
              "maxVocabularySize": config.max_vocabulary >= 0, **checks}  # fmt: skip
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"invalid params {bad}: {config}")
    if config.merge_rule not in MERGE_RULES:
        raise ValueError(f"roundMerge must be one of {MERGE_RULES}, got {config.merge_rule!r}")


class RoundTrainedState(State):
    """See the module docstring. A subclass sets ``kind``, ``config_class`` and
    ``partition_class``, and says how its model starts (``_start_model``) and what it
    finalizes to. ``passes`` is the number of passes merged into the state (0: none;
    1: the vocabulary; 1 + r: r training rounds)."""

    config_class: ClassVar[type]
    partition_class: ClassVar[type["PartitionRound"]]

    def __init__(self, config: Any) -> None:
        self.config = config
        self.passes = 0
        self.partitions = 0  # partitions merged into the last pass
        self.vocabulary = VocabularyCounts(config.max_vocabulary)
        self.words = np.array([], dtype=str)
        self.counts = np.zeros(0)
        self.w_in = self.w_out = np.zeros((0, config.vector_size), np.float32)
        self.words_read = 0.0  # tokens all training rounds read
        self._partition: PartitionRound | None = None

    @classmethod
    def new_for_partition(cls, partition: int, **params: Any) -> "RoundTrainedState":
        state = cls(cls.config_class(**params))
        state.partitions = 1
        return state

    @property
    def training(self) -> bool:
        return self.passes >= 1

    @property
    def total_passes(self) -> int:
        return 1 + self.config.epochs * self.config.rounds

    @property
    def epochs_done(self) -> int:
        return (self.passes - 1) // self.config.rounds if self.training else 0

    def update(self, tokens: Tokens, weights: np.ndarray | None = None, **rows: Any) -> "RoundTrainedState":
        """Count the batch (the vocabulary pass) or train on its rows of this round (a
        partition's state of a training round). Row weights are not used."""
        if not self.training:
            self._count(tokens, **rows)
        elif self._partition is None:
            raise ValueError(f"a {self.kind} model trains on a partition's state (for_partition), not on the merged one")
        else:
            self._partition.train(self, tokens, **rows)
        return self

    def _count(self, tokens: Tokens, **rows: Any) -> None:
        self.vocabulary.update(tokens)

    def merge(self, other: "RoundTrainedState") -> "RoundTrainedState":
        if type(other) is not type(self) or other.config != self.config:
            raise ValueError(f"cannot merge {self.kind} states of different params")
        if self.training or other.training:
            raise ValueError(f"trained {self.kind} states do not merge: their rounds merge (Word2VecRound)")
        merged = type(self)(self.config)
        merged.vocabulary = self.vocabulary.merge(other.vocabulary)
        merged.partitions = self.partitions + other.partitions
        merged._merge_counts(self, other)
        return merged

    def _merge_counts(self, a: "RoundTrainedState", b: "RoundTrainedState") -> None:
        """Set what a subclass counts besides the words to the sum of a's and b's."""

    def _take_counts(self, counted: "RoundTrainedState") -> None:
        """Keep what a subclass counted besides the words (the started model, from the
        merged vocabulary pass)."""

    def next_pass(self) -> "RoundTrainedState":
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
        started = type(self)(replace(self.config, rounds=rounds))
        started.passes, started.partitions = 1, self.partitions
        started.words, started.counts = vocabulary.words, vocabulary.counts
        started._take_counts(self)
        started._start_model(vocabulary, np.random.default_rng(mix(self.config.seed, 0)))
        return started

    def _start_model(self, vocabulary: Vocabulary, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def for_partition(self, partition: int) -> "RoundTrainedState":
        if not self.training:
            raise ValueError(f"a {self.kind} state trains after its vocabulary pass (next_pass)")
        state = type(self).from_arrays(self.to_arrays())
        state.w_in, state.w_out = self.w_in.copy(), self.w_out.copy()
        state._partition = self.partition_class(self, partition)
        return state

    def partition_result(self) -> State:
        return self if self._partition is None else self._partition.result(self)

    def total_tokens(self) -> float:
        """The tokens one epoch reads (the learning rate's schedule)."""
        return float(self.counts.sum())

    def _expected_shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        d = self.config.vector_size
        return (len(self.words), d), (len(self.words), d)

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load_extra(self, arrays: dict[str, np.ndarray]) -> None:
        """Read back what ``_extra_arrays`` wrote (states written without it: defaults)."""

    def _record_round(self, merged: "Word2VecRound") -> None:
        """What a subclass keeps of a merged round besides the matrices."""

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"config_{k}": np.array(v) for k, v in asdict(self.config).items()}
        arrays.update(passes=np.array(self.passes), partitions=np.array(self.partitions),
                      words=self.words, counts=self.counts, w_in=self.w_in, w_out=self.w_out,
                      words_read=np.array(self.words_read))  # fmt: skip
        arrays.update({f"vocabulary_{k}": v for k, v in self.vocabulary.to_arrays().items()})
        return {**arrays, **self._extra_arrays()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "RoundTrainedState":
        """Config fields a state was written without (older versions) take their defaults."""
        config = cls.config_class(**{f.name: type(f.default)(arrays[f"config_{f.name}"].item())
                                     for f in fields(cls.config_class) if f"config_{f.name}" in arrays})  # fmt: skip
        state = cls(config)
        state.passes, state.partitions = int(arrays["passes"]), int(arrays["partitions"])
        state.words = np.asarray(arrays["words"], dtype=str)
        state.counts = np.asarray(arrays["counts"], dtype=np.float64)
        state.w_in = np.ascontiguousarray(arrays["w_in"], dtype=np.float32)
        state.w_out = np.ascontiguousarray(arrays["w_out"], dtype=np.float32)
        state.words_read = float(arrays["words_read"])
        prefix = "vocabulary_"
        state.vocabulary = VocabularyCounts.from_arrays({k[len(prefix):]: v for k, v in arrays.items()
                                                         if k.startswith(prefix)})  # fmt: skip
        state._load_extra(arrays)
        shape_in, shape_out = state._expected_shapes() if state.training else ((0, config.vector_size),) * 2
        if state.w_in.shape != shape_in or state.w_out.shape != shape_out or state.counts.shape != state.words.shape:
            raise ValueError(f"{cls.kind} state has {len(state.words)} words, {state.counts.shape} counts and "
                             f"matrices {state.w_in.shape}/{state.w_out.shape}; expected {shape_in}/{shape_out}")  # fmt: skip
        return state


class PartitionRound:
    """What one partition's training round keeps beside its copy of the model: the
    model it started from, the steps that changed each row, the vocabulary and the
    tokens it read. A subclass's ``train`` calls its kernel on ``rows_of_round``."""

    def __init__(self, start: RoundTrainedState, partition: int) -> None:
        config = start.config
        self.partition = partition
        self.start_in, self.start_out = start.w_in, start.w_out
        self.steps_in, self.steps_out = np.zeros(len(start.w_in)), np.zeros(len(start.w_out))
        self.vocabulary = pa.array(start.words.tolist(), pa.string())
        self.round = (start.passes - 1) % config.rounds
        self.total = config.epochs * start.total_tokens()
        self.scale = float(max(start.partitions, 1))
        self.rows_seen = self.batches = 0
        self.read = 0.0
        self.validation = np.zeros(2)  # what a round measured on held-out rows (the classifier's)

    def vocabulary_for(self, tokens: Tokens) -> pa.Array:
        """The vocabulary as the batches' string type (Spark sends large_string when its
        Arrow uses large types): cast once per round, not once per batch."""
        if self.vocabulary.type != tokens.values.type:
            self.vocabulary = self.vocabulary.cast(tokens.values.type)
        return self.vocabulary

    def rows_of_round(self, num_rows: int, config: Any) -> np.ndarray:
        """The indices of the batch's rows that this round trains on: a hash of the
        row's position in the partition picks its round, or (``rows_by_round``: a Spark
        fit, whose pass reads only the round's rows, sagespark.spark.rounds) all."""
        if config.rounds == 1 or config.rows_by_round:
            rows = np.arange(num_rows)
        else:
            index = np.arange(self.rows_seen, self.rows_seen + num_rows, dtype=np.uint64)
            mixed = (index + np.uint64(mix(config.seed, self.partition))) * np.uint64(_GOLDEN)
            mixed ^= mixed >> np.uint64(31)
            rows = np.flatnonzero(mixed % np.uint64(config.rounds) == np.uint64(self.round))
        self.rows_seen += num_rows
        self.batches += 1
        return rows

    def progress(self, state: RoundTrainedState) -> float:
        """The tokens all partitions have read, as this partition estimates them."""
        return state.words_read + self.read * self.scale

    def train(self, state: RoundTrainedState, tokens: Tokens, **rows: Any) -> None:
        raise NotImplementedError

    def result(self, state: RoundTrainedState) -> "Word2VecRound":
        """The changed rows: their changes (divided by s(steps) for the saturating
        merge) and their steps, input and output matrices apart."""
        changed = []
        for w, start, steps in ((state.w_in, self.start_in, self.steps_in), (state.w_out, self.start_out, self.steps_out)):
            rows = np.flatnonzero(steps > 0)
            change = w[rows] - start[rows]
            if state.config.merge_rule == "saturating":
                change /= np.maximum(saturation(steps[rows]), 1e-30)[:, None].astype(np.float32)
            changed.append((rows, change, steps[rows]))
        return Word2VecRound.of(changed[0], changed[1], self.read, self.validation)


def saturation(steps: np.ndarray) -> np.ndarray:
    """s(n) = 1 - (1 - c)^n: the fraction of its way to a target that n steps move a row."""
    return -np.expm1(np.asarray(steps, np.float64) * np.log1p(-1.0 / SATURATION_STEPS))


def auto_rounds(partitions: int) -> int:
    """Rounds per epoch when roundsPerEpoch='auto': ROUNDS_PER_PARTITION per partition,
    one when a single partition trains (nothing to merge)."""
    return 1 if partitions <= 1 else ROUNDS_PER_PARTITION * partitions


_SIDES = ("in", "out")


class Word2VecRound(State):
    """One training round's merged partition results (of word2vec or the text
    classifier): per matrix (``in``, ``out``) the rows changed and the sums of their
    (saturating: scaled) changes, of their steps and of the partitions that changed
    them; the tokens read, what the round measured on held-out rows, and the partitions
    merged."""

    kind: ClassVar[str] = "word2vec_round"

    def __init__(self, sides: dict[str, dict[str, np.ndarray]], words_read: float, partitions: int,
                 validation: np.ndarray | None = None) -> None:  # fmt: skip
        self.sides = {
            side: {"rows": np.asarray(sides[side]["rows"], np.int64),
                   "change": np.asarray(sides[side]["change"], np.float32),
                   "steps": np.asarray(sides[side]["steps"], np.float64),
                   "parts": np.asarray(sides[side]["parts"], np.float64)}
            for side in _SIDES
        }  # fmt: skip
        self.words_read, self.partitions = float(words_read), int(partitions)
        self.validation = np.zeros(2) if validation is None else np.asarray(validation, np.float64)

    @classmethod
    def of(cls, changed_in, changed_out, words_read: float, validation: np.ndarray) -> "Word2VecRound":
        """One partition's result from (rows, change, steps) per matrix."""
        sides = {side: {"rows": rows, "change": change, "steps": steps, "parts": np.ones(len(rows))}
                 for side, (rows, change, steps) in zip(_SIDES, (changed_in, changed_out))}  # fmt: skip
        return cls(sides, words_read, 1, validation)

    def update(self, tokens: Tokens, weights: np.ndarray | None = None) -> "Word2VecRound":
        raise ValueError("a round is the merge of partition results; a partition trains a Word2VecState")

    def merge(self, other: "Word2VecRound") -> "Word2VecRound":
        sides = {}
        for side in _SIDES:
            a, b = self.sides[side], other.sides[side]
            rows = np.union1d(a["rows"], b["rows"])
            mine, theirs = np.searchsorted(rows, a["rows"]), np.searchsorted(rows, b["rows"])
            sides[side] = {"rows": rows}
            for name in ("change", "steps", "parts"):
                total = np.zeros((len(rows),) + a[name].shape[1:], a[name].dtype)
                total[mine] += a[name]
                total[theirs] += b[name]
                sides[side][name] = total
        return Word2VecRound(sides, self.words_read + other.words_read, self.partitions + other.partitions,
                             self.validation + other.validation)  # fmt: skip

    def completed_from(self, start: RoundTrainedState) -> RoundTrainedState:
        """The model after this round (the merge rule of the module docstring)."""
        state = type(start).from_arrays(start.to_arrays())
        state.w_in, state.w_out = start.w_in.copy(), start.w_out.copy()
        rule = start.config.merge_rule
        for side, w in zip(_SIDES, (state.w_in, state.w_out)):
            rows, change, steps, parts = (self.sides[side][k] for k in ("rows", "change", "steps", "parts"))
            if rule == "sum":
                factor = np.ones(len(parts))
            elif rule == "average":
                factor = 1.0 / np.maximum(parts, 1)
            else:
                factor = saturation(steps) / np.maximum(parts, 1)
            w[rows] += change * factor.astype(np.float32)[:, None]
        state.passes, state.partitions = start.passes + 1, self.partitions
        state.words_read = start.words_read + self.words_read
        state._record_round(self)
        return state

    def finalize(self) -> "Word2VecRound":
        return self

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"{name}_{side}": values for side in _SIDES for name, values in self.sides[side].items()}
        return {**arrays, "words_read": np.array(self.words_read), "partitions": np.array(self.partitions),
                "validation": self.validation}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Word2VecRound":
        """Also reads the first layout (format 1 as written before the classifier): one
        ``rows`` for both matrices."""
        sides = {}
        for side in _SIDES:
            rows = arrays.get(f"rows_{side}", arrays.get("rows"))
            values = {name: arrays[f"{name}_{side}"] for name in ("change", "steps", "parts")}
            if any(len(v) != len(rows) for v in values.values()):
                raise ValueError(f"word2vec_round state has {len(rows)} {side} rows but per-row arrays of other lengths")
            sides[side] = {"rows": rows, **values}
        return cls(sides, float(arrays["words_read"]), int(arrays["partitions"]), arrays.get("validation"))
