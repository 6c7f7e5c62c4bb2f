"""word2vec as a state trained in rounds (sagespark.states.rounds: the vocabulary pass,
the rounds, their merge): word vectors ``w_in`` and output vectors ``w_out``, one row
per vocabulary word, trained by sagespark.kernels.word2vec. The model starts with word
vectors uniform in +-0.5/d (word2vec's) and output vectors 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from sagespark.kernels.tokens import Tokens
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

    def __post_init__(self) -> None:
        check_rounds_config(self, {"windowSize": self.window >= 1, "negativeSamples": self.negative >= 1,
                                   "samplingThreshold": self.sample >= 0, "batchSize": self.batch_size >= 1,
                                   "maxSentenceLength": self.max_sentence_length >= 2})  # fmt: skip
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class Word2VecSolution:
    words: np.ndarray  # str, most frequent first
    counts: np.ndarray  # float64
    vectors: np.ndarray  # float32, one row per word


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
            mine.ids(self.vocabulary), mine.offsets, self.keep, self.cumulative, state.w_in, state.w_out,
            self.steps_in, self.steps_out, MODES[config.mode], config.window, config.negative, config.batch_size,
            config.max_sentence_length, config.step_size, self.progress(state), self.total, self.scale, seed,
        )  # fmt: skip


class Word2VecState(RoundTrainedState):
    """See the module docstring."""

    kind: ClassVar[str] = "word2vec"
    config_class = Word2VecConfig
    partition_class = _Word2VecPartition

    def _start_model(self, vocabulary: Vocabulary, rng: np.random.Generator) -> None:
        d = self.config.vector_size
        self.w_in = ((rng.random((len(vocabulary.words), d)) - 0.5) / d).astype(np.float32)
        self.w_out = np.zeros((len(vocabulary.words), d), np.float32)

    def finalize(self) -> Word2VecSolution:
        if not self.training:
            raise ValueError("a word2vec state has no vectors before its vocabulary pass")
        return Word2VecSolution(self.words, self.counts, self.w_in)


def document_vectors(tokens: Tokens, vocabulary: pa.Array, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """transform's scorer: each row's mean word vector over its words in the vocabulary
    (zeros for a row with none, as MLlib's Word2VecModel)."""
    return {"vector": document_means(tokens.ids(vocabulary), tokens.offsets, vectors)}
