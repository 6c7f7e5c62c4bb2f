"""word2vec, BlazingText's unsupervised modes (Word2Vec / Word2VecModel, public in
sagespark.feature).

``Word2Vec`` reads an ``array<string>`` column of tokens (Tokenizer's or
RegexTokenizer's output) in 1 + maxIter x roundsPerEpoch passes over a
:class:`~sagespark.states.word2vec.Word2VecState`: the vocabulary, then training rounds
that every partition trains from the same broadcast model and the driver merges (see
the state's docstring and docs/word2vec.md for the rule and its measurements). The
model has MLlib's API: ``getVectors``, ``findSynonyms``, ``findSynonymsArray`` and
``transform`` (each document's mean word vector), and writes the word2vec text format
that gensim reads (BlazingText's ``vectors.txt``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import Vector
from pyspark.ml.param import Param, TypeConverters
from pyspark.ml.param.shared import HasAggregationDepth, HasHandleInvalid, HasInputCol, HasMaxIter, HasOutputCol
from pyspark.ml.param.shared import HasSeed, HasStepSize
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame, SparkSession

from sagespark.spark.features import require_handle_invalid, token_spec
from sagespark.spark.onepass import FitSummary
from sagespark.spark.rounds import RoundTrainedEstimator, RoundTrainedModel
from sagespark.spark.params import HasBuckets, HasTrainingRounds, param, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.scoring import add_scores
from sagespark.states.base import AUTO
from sagespark.states.word2vec import Word2VecConfig, Word2VecSolution, Word2VecState, document_vectors
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec

__all__ = ["Word2Vec", "Word2VecModel", "Word2VecSummary"]


class _Word2VecParams(HasTrainingRounds, HasBuckets, HasInputCol, HasOutputCol, HasMaxIter, HasStepSize, HasSeed,
                      HasHandleInvalid, HasAggregationDepth):  # fmt: skip
    windowSize: Param[int] = param("windowSize", "context words either side of a word (at most; each word's "
                                   "window is drawn from 1..windowSize)", TypeConverters.toInt)  # fmt: skip
    maxSentenceLength: Param[int] = param("maxSentenceLength", "longer rows are cut into sentences of this many "
                                          "words (after subsampling)", TypeConverters.toInt)  # fmt: skip
    mode: Param[str] = param("mode", "'batch_skipgram' (skip-gram whose pairs of one word share their negative "
                             "samples), 'skipgram' or 'cbow'", TypeConverters.toString)  # fmt: skip
    negativeSamples: Param[int] = param("negativeSamples", "noise words per positive pair (negative sampling)",
                                        TypeConverters.toInt)  # fmt: skip
    samplingThreshold: Param[float] = param("samplingThreshold", "word2vec's subsampling threshold t: a word of "
                                            "frequency f is kept with probability sqrt(t/f) + t/f (0: no "
                                            "subsampling)", TypeConverters.toFloat)  # fmt: skip
    batchSize: Param[int] = param("batchSize", "batch_skipgram: context words per shared-negatives batch",
                                  TypeConverters.toInt)  # fmt: skip
    subwords: Param[bool] = param("subwords", "fastText's subword model: a word's vector is the mean of its own "
                                  "row and its character n-grams' bucket rows, so words out of the vocabulary "
                                  "get vectors too", TypeConverters.toBoolean)  # fmt: skip
    minChar: Param[int] = param("minChar", "subwords: the shortest character n-gram (characters, with the "
                                "word's boundary marks < and >)", TypeConverters.toInt)  # fmt: skip
    maxChar: Param[int] = param("maxChar", "subwords: the longest character n-gram", TypeConverters.toInt)

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            windowSize=5, maxIter=5, stepSize=0.05, maxSentenceLength=1000, mode="batch_skipgram",
            negativeSamples=5, samplingThreshold=1e-4, batchSize=11, subwords=False, minChar=3, maxChar=6,
            buckets=2_000_000, outputCol="vector", handleInvalid="error", aggregationDepth=2,
            seed=stable_default_seed(self),
        )  # fmt: skip

    def _config(self) -> Word2VecConfig:
        return Word2VecConfig(
            window=self.getOrDefault(self.windowSize), mode=self.getOrDefault(self.mode),
            negative=self.getOrDefault(self.negativeSamples), sample=self.getOrDefault(self.samplingThreshold),
            batch_size=self.getOrDefault(self.batchSize), subwords=self.getOrDefault(self.subwords),
            min_char=self.getOrDefault(self.minChar), max_char=self.getOrDefault(self.maxChar),
            buckets=self.getOrDefault(self.buckets), max_sentence_length=self.getOrDefault(self.maxSentenceLength),
            **self._rounds_config(),
        )  # fmt: skip

    def _tokens_input(self, dataset: DataFrame) -> tuple[list[Column], FeatureSpec]:
        return token_spec(dataset, self.getInputCol(), require_handle_invalid(self.getHandleInvalid()))


@saved_as("sagespark.feature")
class Word2Vec(RoundTrainedEstimator, _Word2VecParams, DefaultParamsReadable, ParamsWritable):
    """word2vec with negative sampling (BlazingText's batch_skipgram, skipgram and
    cbow), trained on the partitions in rounds.

    >>> tokens = Tokenizer(inputCol="text", outputCol="words").transform(docs)  # doctest: +SKIP
    >>> model = Word2Vec(inputCol="words", outputCol="vector").fit(tokens)      # doctest: +SKIP
    >>> model.findSynonyms("king", 5).show()                                    # doctest: +SKIP
    """

    state_class = Word2VecState

    @keyword_only
    def __init__(
        self, *, vectorSize: int = 100, minCount: int = 5, numPartitions: int = 0, stepSize: float = 0.05,
        maxIter: int = 5, seed: int | None = None, inputCol: str | None = None, outputCol: str = "vector",
        windowSize: int = 5, maxSentenceLength: int = 1000, mode: str = "batch_skipgram", negativeSamples: int = 5,
        samplingThreshold: float = 1e-4, batchSize: int = 11, subwords: bool = False, minChar: int = 3,
        maxChar: int = 6, buckets: int = 2_000_000, roundsPerEpoch: int | str = AUTO,
        roundMerge: str = "saturating", maxVocabularySize: int = 0, handleInvalid: str = "error", aggregationDepth: int = 2,
    ) -> None:  # fmt: skip
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "Word2Vec":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _input(self, dataset: DataFrame, n_features: int | None) -> tuple[list[Column], FeatureSpec]:
        return self._tokens_input(dataset)

    def _model_class(self) -> type["Word2VecModel"]:
        return Word2VecModel


@dataclass(frozen=True)
class Word2VecSummary(FitSummary):
    """FitSummary of a Word2Vec fit, with the vocabulary's size, the corpus's words in
    it (one epoch's training words) and the rounds per epoch the fit made."""

    vocabularySize: int = 0
    trainWords: float = 0.0
    roundsPerEpoch: int = 0


@saved_as("sagespark.feature")
class Word2VecModel(RoundTrainedModel, _Word2VecParams):
    """One vector per vocabulary word (most frequent first); keeps the training state
    (both vector matrices and the counts) and saves it as arrays."""

    def _describe(self) -> dict[str, Any]:
        return {"vocabularySize": len(self._state.words), "mode": self._state.config.mode}

    @property
    def summary(self) -> Word2VecSummary:
        state = self._state
        return Word2VecSummary(**asdict(self._summary), vocabularySize=len(state.words),
                               trainWords=float(state.counts.sum()), roundsPerEpoch=state.config.rounds)  # fmt: skip

    @property
    def _solution(self) -> Word2VecSolution:
        return super()._solution

    @property
    def _unit_vectors(self) -> np.ndarray:
        def unit() -> np.ndarray:
            vectors = self._solution.vectors.astype(np.float64)
            return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-300)

        cached = getattr(self, "_cached_unit", None)
        if cached is None or cached[0] is not self._solution:
            cached = (self._solution, unit())
            self._cached_unit = cached
        return cached[1]

    @property
    def numFeatures(self) -> int:
        return self._state.config.vector_size

    def getVectors(self) -> DataFrame:
        """MLlib's DataFrame of the vocabulary: word (string), vector (a dense vector)."""
        solution = self._solution
        table = pa.table({"word": pa.array(solution.words.tolist(), pa.string()),
                          "vector": pa.array(list(solution.vectors.astype(np.float64)), pa.list_(pa.float64()))})  # fmt: skip
        frame = SparkSession.active().createDataFrame(table.to_pandas())
        return frame.select("word", array_to_vector("vector").alias("vector"))

    def findSynonymsArray(self, word: str | Vector | np.ndarray, num: int) -> list[tuple[str, float]]:
        """The ``num`` words of highest cosine similarity to ``word`` (a vocabulary word,
        itself left out, as MLlib's; with subwords any word with a trained character
        n-gram) or to a vector, with their similarities."""
        if num < 0:
            raise ValueError(f"num must be >= 0, got {num}")
        unit, words = self._unit_vectors, self._solution.words
        index = np.flatnonzero(words == word) if isinstance(word, str) else []
        if len(index):
            query, skip = unit[index[0]], int(index[0])
        elif isinstance(word, str):
            query, skip = self._unknown_word_vector(word), -1
        else:
            query, skip = np.asarray(word.toArray() if hasattr(word, "toArray") else word, dtype=np.float64), -1
            if query.shape != (unit.shape[1],):
                raise ValueError(f"the query vector has dimension {query.size}, expected {unit.shape[1]}")
            query = query / max(np.linalg.norm(query), 1e-300)
        similarity = unit @ query
        if skip >= 0:
            similarity[skip] = -np.inf
        order = np.argsort(-similarity, kind="stable")[: min(num, len(words) - (skip >= 0))]
        return [(str(words[i]), float(similarity[i])) for i in order]

    def _unknown_word_vector(self, word: str) -> np.ndarray:
        subwords = self._solution.subwords
        found, vectors = subwords.vectors([word]) if subwords is not None else ([False], None)
        if not found[0]:
            have = "no trained character n-gram" if subwords is not None else "no vector (fit with subwords=True for one)"
            raise ValueError(f"word {word!r} is not in the vocabulary ({len(self._solution.words)} words) and has {have}")
        return vectors[0].astype(np.float64) / max(float(np.linalg.norm(vectors[0])), 1e-300)

    def findSynonyms(self, word: str | Vector | np.ndarray, num: int) -> DataFrame:
        """findSynonymsArray as MLlib's DataFrame: word, similarity."""
        rows = self.findSynonymsArray(word, num)
        return SparkSession.active().createDataFrame(rows, "word string, similarity double")

    def saveWord2VecFormat(self, path: str) -> None:
        """Write the vectors in the word2vec text format (a "words dimension" header,
        then one "word v1 ... vd" line per word), BlazingText's vectors.txt, which
        gensim's ``KeyedVectors.load_word2vec_format`` reads. ``path`` is a local file
        on the driver."""
        solution = self._solution
        with open(path, "w", encoding="utf-8") as out:
            out.write(f"{len(solution.words)} {solution.vectors.shape[1]}\n")
            for word, vector in zip(solution.words.tolist(), solution.vectors):
                out.write(word + " " + " ".join(f"{v:.9g}" for v in vector.tolist()) + "\n")  # float32 exactly

    def _transform(self, dataset: DataFrame) -> DataFrame:
        solution = self._solution
        scorer = partial(document_vectors, vocabulary=pa.array(solution.words.tolist(), pa.string()),
                         vectors=solution.vectors, subwords=solution.subwords)  # fmt: skip
        outputs = {self.getOutputCol(): ("vector", VECTOR_ARROW_TYPE)}
        return add_scores(dataset, self._tokens_input(dataset), scorer, outputs)
