"""The fastText text classifier (BlazingText's supervised mode) as a state trained in
rounds (sagespark.states.rounds: the vocabulary pass, the rounds, their merge).

The vocabulary pass also counts the labels (class indices 0, 1, ...: the number of
classes is the largest label + 1). The model: input rows ``w_in`` for the vocabulary's
words and ``buckets`` hashed word n-grams ((V + buckets) x d, uniform in +-1/d as
fastText's), output rows ``w_out`` one per class (C x d, zeros); trained and scored by
sagespark.kernels.text_classifier. Rows a validation indicator marks are not trained:
each is scored once per epoch, by the model its round starts from, and the epoch's
accuracy is kept (``validation_history``) for early stopping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from sagespark.kernels.text_classifier import document_probabilities, train_documents
from sagespark.kernels.tokens import Tokens
from sagespark.states.rounds import PartitionRound, RoundTrainedState, Word2VecRound, check_rounds_config
from sagespark.states.vocabulary import Vocabulary


END_OF_ROW = "</s>"  # fastText's end-of-line word: in every document's words and n-grams


@dataclass(frozen=True)
class TextClassifierConfig:
    """The hyperparameters (BlazingTextClassifier's params, in fastText's words)."""

    vector_size: int = 100
    word_ngrams: int = 2
    buckets: int = 100_000
    min_count: float = 5.0
    max_vocabulary: int = 0
    epochs: int = 5
    rounds: int = 0
    step_size: float = 0.05
    seed: int = 0
    merge_rule: str = "saturating"
    rows_by_round: bool = False  # True: each round's rows arrive alone (a Spark fit's round filter)
    end_of_row: bool = False  # True: every document ends with fastText's end-of-line word END_OF_ROW

    def __post_init__(self) -> None:
        check_rounds_config(self, {"wordNgrams": self.word_ngrams >= 1, "buckets": self.buckets >= 0})


@dataclass(frozen=True)
class TextClassifierSolution:
    words: np.ndarray  # the vocabulary
    w_in: np.ndarray  # (V + buckets) x d
    w_out: np.ndarray  # classes x d
    buckets: int
    word_ngrams: int
    end_of_row: bool = False

    def documents(self, tokens: Tokens) -> Tokens:
        """The documents the model reads: with end_of_row, each row and END_OF_ROW."""
        return tokens.with_end_token(END_OF_ROW) if self.end_of_row else tokens

    @property
    def num_classes(self) -> int:
        return len(self.w_out)


class _ClassifierPartition(PartitionRound):
    def train(self, state: "TextClassifierState", tokens: Tokens, labels: np.ndarray | None = None,
              holdout: np.ndarray | None = None) -> None:  # fmt: skip
        """Score the round's validation rows with the model the round started from and
        train on its other rows."""
        config = state.config
        rows = self.rows_of_round(tokens.num_rows, config)
        held = np.zeros(len(rows), dtype=bool) if holdout is None else holdout[rows]
        start = TextClassifierSolution(state.words, self.start_in, self.start_out, config.buckets, config.word_ngrams,
                                       config.end_of_row)  # fmt: skip
        if held.any():
            predicted = classify_documents(tokens.take(rows[held]), self.vocabulary_for(tokens), start)["prediction"]
            self.validation += [float((predicted == labels[rows[held]]).sum()), float(held.sum())]
        trained = rows[~held]
        mine, vocabulary = start.documents(tokens.take(trained)), self.vocabulary_for(tokens)
        self.read += train_documents(
            *token_inputs(mine, vocabulary, config.buckets, config.word_ngrams), mine.offsets, labels[trained],
            state.w_in, state.w_out, self.steps_in, self.steps_out, len(state.words), config.buckets,
            config.word_ngrams, config.step_size, self.progress(state), self.total, self.scale,
        )  # fmt: skip


class TextClassifierState(RoundTrainedState):
    """See the module docstring. ``update(tokens, weights, labels=..., holdout=...)``."""

    kind: ClassVar[str] = "text_classifier"
    config_class = TextClassifierConfig
    partition_class = _ClassifierPartition

    def __init__(self, config: TextClassifierConfig) -> None:
        super().__init__(config)
        self.label_counts = np.zeros(0)
        self.corpus_tokens = 0.0  # the training rows' tokens (in the vocabulary or not)
        self.validation_history = np.zeros(0)  # accuracy on the held-out rows, per epoch
        self._validation = np.zeros(2)  # the current epoch's (correct, rows)

    def _count(self, tokens: Tokens, labels: np.ndarray | None = None, holdout: np.ndarray | None = None) -> None:
        if labels is None:
            raise ValueError("the text classifier needs labels")
        trained = np.ones(tokens.num_rows, dtype=bool) if holdout is None else ~holdout
        documents = tokens.take(np.flatnonzero(trained))
        self.vocabulary.update(documents.with_end_token(END_OF_ROW) if self.config.end_of_row else documents)
        self.label_counts = _add_counts(self.label_counts, np.bincount(labels.astype(np.int64)))

    def _merge_counts(self, a: "TextClassifierState", b: "TextClassifierState") -> None:
        self.label_counts = _add_counts(a.label_counts, b.label_counts)

    def _take_counts(self, counted: "TextClassifierState") -> None:
        self.label_counts, self.corpus_tokens = counted.label_counts, counted.vocabulary.tokens

    def _start_model(self, vocabulary: Vocabulary, rng: np.random.Generator) -> None:
        d = self.config.vector_size
        if len(self.label_counts) < 2:
            raise ValueError(f"the labels hold {len(self.label_counts)} class(es); a classifier needs 2 or more")
        rows = len(vocabulary.words) + self.config.buckets
        self.w_in = ((rng.random((rows, d)) * 2 - 1) / d).astype(np.float32)
        self.w_out = np.zeros((len(self.label_counts), d), np.float32)

    def total_tokens(self) -> float:
        return self.corpus_tokens

    def _expected_shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        d = self.config.vector_size
        return (len(self.words) + self.config.buckets, d), (len(self.label_counts), d)

    def _record_round(self, merged: Word2VecRound) -> None:
        self._validation = self._validation + merged.validation
        if self.passes >= 2 and (self.passes - 1) % self.config.rounds == 0:  # an epoch ended
            correct, rows = self._validation
            if rows > 0:
                self.validation_history = np.append(self.validation_history, correct / rows)
            self._validation = np.zeros(2)

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {"label_counts": self.label_counts, "corpus_tokens": np.array(self.corpus_tokens),
                "validation_history": self.validation_history, "validation": self._validation}  # fmt: skip

    def _load_extra(self, arrays: dict[str, np.ndarray]) -> None:
        self.label_counts = np.asarray(arrays["label_counts"], np.float64)
        self.corpus_tokens = float(arrays["corpus_tokens"])
        self.validation_history = np.asarray(arrays["validation_history"], np.float64)
        self._validation = np.asarray(arrays["validation"], np.float64)

    def finalize(self) -> TextClassifierSolution:
        if not self.training:
            raise ValueError("a text classifier state has no model before its vocabulary pass")
        config = self.config
        return TextClassifierSolution(self.words, self.w_in, self.w_out, config.buckets, config.word_ngrams,
                                      config.end_of_row)  # fmt: skip


def _add_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = np.zeros(max(len(a), len(b)))
    total[: len(a)] += a
    total[: len(b)] += b
    return total


def token_inputs(tokens: Tokens, vocabulary: pa.Array, buckets: int, word_ngrams: int) -> tuple[np.ndarray, np.ndarray]:
    """(vocabulary ids, token hashes: only when n-grams are hashed) of a batch."""
    hashed = buckets > 0 and word_ngrams > 1
    return tokens.ids(vocabulary), tokens.hashes() if hashed else np.zeros(len(tokens.values), np.uint32)


def classify_documents(tokens: Tokens, vocabulary: pa.Array, solution: TextClassifierSolution,
                       top_k: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    """transform's scorer: rawPrediction (the class scores B h), probability (their
    softmax), prediction (the most probable class) and with top_k > 0 the top_k most
    probable classes and their probabilities, most probable first (BlazingText's k;
    ties: the lower class first, as argmax)."""
    tokens = solution.documents(tokens)
    ids, hashes = token_inputs(tokens, vocabulary, solution.buckets, solution.word_ngrams)
    scores, probabilities = document_probabilities(ids, hashes, tokens.offsets, solution.w_in, solution.w_out,
                                                   len(solution.words), solution.buckets, solution.word_ngrams)  # fmt: skip
    out = {"rawPrediction": scores, "probability": probabilities,
           "prediction": np.argmax(probabilities, axis=1).astype(np.float64)}  # fmt: skip
    if top_k > 0:
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
        out.update(topLabels=top.astype(np.float64), topProbabilities=np.take_along_axis(probabilities, top, axis=1))
    return out
