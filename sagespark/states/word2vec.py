"""word2vec as a state trained in rounds (sagespark.states.rounds: the vocabulary pass,
the rounds, their merge): word vectors ``w_in`` and output vectors ``w_out``, one row
per vocabulary word, trained by sagespark.kernels.word2vec. The model starts with word
vectors uniform in +-0.5/d (word2vec's) and output vectors 0.

With ``subwords`` (fastText's model, BlazingText's ``subwords``), ``w_in`` also has a
row per bucket that the vocabulary's character n-grams hash into (``bucket_ids``, sorted:
only the buckets some word uses, so the model is (V + U) x d with U <= min(buckets, the
vocabulary's n-grams), not the (V + buckets) x d of fastText); word w's input rows are
``input_rows[input_offsets[w]:input_offsets[w+1]]``, its own row first, and its vector
is their mean. A word out of the vocabulary gets the mean of its n-grams' trained
bucket rows (``SubwordVectors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sagespark.kernels.tokens import Tokens, subword_buckets
from sagespark.kernels.word2vec import MODES, document_means, train_sentences
from sagespark.states.rounds import PartitionRound, RoundTrainedState, check_rounds_config, mix
from sagespark.states.vocabulary import Vocabulary, negative_sampling_distribution, subsampling_keep_probabilities


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
    rows_by_round: bool = False  # True: each round's rows arrive alone (a Spark fit's round filter)
    subwords: bool = False
    min_char: int = 3
    max_char: int = 6
    buckets: int = 2_000_000

    def __post_init__(self) -> None:
        check_rounds_config(self, {"windowSize": self.window >= 1, "negativeSamples": self.negative >= 1,
                                   "samplingThreshold": self.sample >= 0, "batchSize": self.batch_size >= 1,
                                   "maxSentenceLength": self.max_sentence_length >= 2, "minChar": self.min_char >= 1,
                                   "maxChar": self.max_char >= self.min_char, "buckets": self.buckets >= 1})  # fmt: skip
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class SubwordVectors:
    """The trained character n-gram buckets: vectors for words out of the vocabulary."""

    bucket_ids: np.ndarray  # int64, sorted: the buckets the vocabulary's n-grams use
    rows: np.ndarray  # float32, one per bucket id
    min_char: int
    max_char: int
    buckets: int

    def vectors(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(found, vectors): each word's mean of its n-grams' trained bucket rows, and
        whether it has any (a word without one has no vector: zeros, found False)."""
        offsets, hashed = subword_buckets(words, self.min_char, self.max_char, self.buckets)
        index = np.minimum(np.searchsorted(self.bucket_ids, hashed), max(len(self.bucket_ids) - 1, 0))
        trained = (self.bucket_ids[index] == hashed) if len(self.bucket_ids) else np.zeros(len(hashed), bool)
        owner = np.repeat(np.arange(len(words)), np.diff(offsets))[trained]
        sums = np.zeros((len(words), self.rows.shape[1]), np.float64)
        np.add.at(sums, owner, self.rows[index[trained]])
        found = np.bincount(owner, minlength=len(words))
        return found > 0, (sums / np.maximum(found, 1)[:, None]).astype(np.float32)


@dataclass(frozen=True)
class Word2VecSolution:
    words: np.ndarray  # str, most frequent first
    counts: np.ndarray  # float64
    vectors: np.ndarray  # float32, one row per word
    subwords: SubwordVectors | None = None


class _Word2VecPartition(PartitionRound):
    """A partition's round, with word2vec's sampling tables."""

    def __init__(self, start: "Word2VecState", partition: int) -> None:
        super().__init__(start, partition)
        self.keep = subsampling_keep_probabilities(start.counts, start.counts.sum(), start.config.sample)
        self.cumulative = np.cumsum(negative_sampling_distribution(start.counts))

    def train(self, state: "Word2VecState", tokens: Tokens, **rows: Any) -> None:
        config = state.config
        mine = tokens.take(self.rows_of_round(tokens.num_rows, config))
        seed = mix(config.seed, state.passes, self.partition, self.batches) % (1 << 31)
        self.read += train_sentences(
            mine.ids(self.vocabulary_for(tokens)), mine.offsets, self.keep, self.cumulative, state.input_offsets,
            state.input_rows, state.w_in, state.w_out, self.steps_in, self.steps_out, MODES[config.mode],
            config.window, config.negative, config.batch_size, config.max_sentence_length, config.step_size,
            self.progress(state), self.total, self.scale, seed,
        )  # fmt: skip


class Word2VecState(RoundTrainedState):
    """See the module docstring."""

    kind: ClassVar[str] = "word2vec"
    config_class = Word2VecConfig
    partition_class = _Word2VecPartition

    def __init__(self, config: Word2VecConfig) -> None:
        super().__init__(config)
        self.bucket_ids = np.zeros(0, np.int64)
        self.input_offsets, self.input_rows = np.zeros(1, np.int64), np.zeros(0, np.int64)

    def _start_model(self, vocabulary: Vocabulary, rng: np.random.Generator) -> None:
        config, V = self.config, len(vocabulary.words)
        if not config.subwords:
            self.input_offsets, self.input_rows = np.arange(V + 1, dtype=np.int64), np.arange(V, dtype=np.int64)
        else:
            offsets, hashed = subword_buckets(vocabulary.words.tolist(), config.min_char, config.max_char, config.buckets)
            self.bucket_ids = np.unique(hashed)
            self.input_offsets = offsets + np.arange(V + 1)  # each word's own row, then its n-grams'
            gram = np.ones(self.input_offsets[-1], dtype=bool)
            gram[self.input_offsets[:-1]] = False
            self.input_rows = np.empty(len(gram), np.int64)
            self.input_rows[~gram] = np.arange(V)
            self.input_rows[gram] = V + np.searchsorted(self.bucket_ids, hashed)
        rows = V + len(self.bucket_ids)
        self.w_in = ((rng.random((rows, config.vector_size)) - 0.5) / config.vector_size).astype(np.float32)
        self.w_out = np.zeros((V, config.vector_size), np.float32)

    def finalize(self) -> Word2VecSolution:
        if not self.training:
            raise ValueError("a word2vec state has no vectors before its vocabulary pass")
        if not self.config.subwords:
            return Word2VecSolution(self.words, self.counts, self.w_in)
        offsets, rows = self.input_offsets, self.input_rows
        means = np.add.reduceat(self.w_in[rows].astype(np.float64), offsets[:-1], axis=0) / np.diff(offsets)[:, None]
        config, V = self.config, len(self.words)
        subwords = SubwordVectors(self.bucket_ids, self.w_in[V:], config.min_char, config.max_char, config.buckets)
        return Word2VecSolution(self.words, self.counts, means.astype(np.float32), subwords)

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        if not self.config.subwords:
            return {}
        return {"bucket_ids": self.bucket_ids, "input_offsets": self.input_offsets, "input_rows": self.input_rows}

    def _load_extra(self, arrays: dict[str, np.ndarray]) -> None:
        """Without subwords the input rows are the words' own (not written)."""
        if "input_rows" in arrays:
            self.bucket_ids = np.asarray(arrays["bucket_ids"], np.int64)
            self.input_offsets = np.asarray(arrays["input_offsets"], np.int64)
            self.input_rows = np.asarray(arrays["input_rows"], np.int64)
        elif int(arrays["passes"]) >= 1:
            V = len(arrays["words"])
            self.input_offsets, self.input_rows = np.arange(V + 1, dtype=np.int64), np.arange(V, dtype=np.int64)

    def _expected_shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        d = self.config.vector_size
        return (len(self.words) + len(self.bucket_ids), d), (len(self.words), d)


def document_vectors(tokens: Tokens, vocabulary: pa.Array, vectors: np.ndarray,
                     subwords: SubwordVectors | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """transform's scorer: each row's mean word vector over its words that have one (zeros
    for a row with none, as MLlib's Word2VecModel): the vocabulary's words, and with
    subwords the other words with a trained n-gram."""
    ids = tokens.ids(vocabulary)
    unknown = np.flatnonzero(ids < 0)
    if subwords is not None and len(unknown):
        encoded = pc.dictionary_encode(tokens.values.take(pa.array(unknown)))
        found, extra = subwords.vectors([str(w) for w in encoded.dictionary.to_pylist()])
        index = encoded.indices.to_numpy(zero_copy_only=False)
        ids = ids.copy()
        ids[unknown] = np.where(found[index], len(vectors) + index, -1)
        vectors = np.concatenate([vectors, extra])
    return {"vector": document_means(ids, tokens.offsets, vectors)}
