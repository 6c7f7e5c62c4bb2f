"""Spectral LDA: topics from the corpus's moments (LDA / LDAModel, public in
sagespark.clustering).

``LDA`` folds term-count vectors (CountVectorizer's or HashingTF's output) into a
:class:`~sagespark.states.lda.LDAMoments` state: two passes with 'sketch' whitening
(the default: the first finds the data's top subspace, the second sees the third
moment in it), one with 'projection' (a random subspace). The driver finalizes k topics
and their Dirichlet prior from the state alone, so k (up to the state's width) and
alpha0 are finalize-time: ``model.finalize(k=..., alpha0=...)`` and fitMultiple over a
grid of both read no more data. See docs/lda.md for the science and the decisions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
from pyspark import keyword_only
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.param import Param, TypeConverters
from pyspark.ml.param.shared import HasAggregationDepth, HasSeed, HasTol
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame, SparkSession

from sagespark.spark.features import feature_spec
from sagespark.spark.fold import sum_dataset
from sagespark.spark.onepass import FitSummary, OnePassEstimator, StateModel
from sagespark.spark.params import HasInputParams, param, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.scoring import add_scores
from sagespark.states.base import new_state
from sagespark.states.lda import (
    DOCUMENT_WEIGHTINGS, TOPIC_SMOOTHING, WHITENINGS, LDAMoments, LDASolution, lda_likelihood_sums, lda_topic_mixtures,
)  # fmt: skip
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec

__all__ = ["LDA", "LDAModel", "LDASummary"]

FINALIZE_PARAMS = frozenset(
    {"k", "alpha0", "docConcentration", "extraTopics", "maxRestarts", "maxIterations", "tol", "topicSmoothing",
     "topicDistributionCol"}
)


class _LDAParams(HasInputParams, HasSeed, HasAggregationDepth, HasTol):
    k: Param[int] = param("k", "the number of topics (> 0)", TypeConverters.toInt)
    topicDistributionCol: Param[str] = param(
        "topicDistributionCol", "output column: each document's topic mixture", TypeConverters.toString
    )
    alpha0: Param[float] = param(
        "alpha0", "SageMaker's alpha0: the sum of the Dirichlet prior on topic mixtures (> 0)", TypeConverters.toFloat
    )
    docConcentration: Param[list[float]] = param(
        "docConcentration", "MLlib's per-topic prior: one value c means alpha0 = c k, k values mean alpha0 = their "
        "sum (the spectral method fits the prior's shape itself); unset: alpha0", TypeConverters.toListFloat,
    )  # fmt: skip
    maxRestarts: Param[int] = param(
        "maxRestarts", "random starts per component of the tensor power method", TypeConverters.toInt
    )
    maxIterations: Param[int] = param(
        "maxIterations", "power iterations per start (stops earlier when the vector moves by <= tol)",
        TypeConverters.toInt,
    )  # fmt: skip
    extraTopics: Param[int] = param(
        "extraTopics", "components decomposed beyond k, of which the k closest to the simplex are kept "
        "(-1: ceil(k / 4), SageMaker's 25%)", TypeConverters.toInt,
    )  # fmt: skip
    whitening: Param[str] = param(
        "whitening", "'sketch': two passes, the third moment seen in the data's top subspace; 'projection': one "
        "pass, in a random subspace", TypeConverters.toString,
    )  # fmt: skip
    topicSmoothing: Param[float] = param(
        "topicSmoothing", "s in [0, 1): each topic is (1 - s) x its spectral estimate + s x the corpus's word "
        "frequencies", TypeConverters.toFloat,
    )  # fmt: skip
    documentWeighting: Param[str] = param(
        "documentWeighting", "how documents weigh in the moments: 'tokens' (by their length: every token counts "
        "once) or 'documents' (equally), times weightCol", TypeConverters.toString,
    )  # fmt: skip
    oversampling: Param[int] = param(
        "oversampling", "subspace dimensions beyond k + extraTopics (-1: max(10, k + extraTopics)); the state "
        "keeps V x width and width^3 values", TypeConverters.toInt,
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(
            k=10, topicDistributionCol="topicDistribution", alpha0=1.0, maxRestarts=10, maxIterations=1000, tol=1e-8,
            extraTopics=-1, whitening="sketch", documentWeighting="tokens", oversampling=-1, topicSmoothing=TOPIC_SMOOTHING, aggregationDepth=2,
            seed=stable_default_seed(self),
        )  # fmt: skip

    def _extra_topics(self) -> int:
        extra = self.getOrDefault(self.extraTopics)
        if extra < -1:
            raise ValueError(f"extraTopics must be -1 or >= 0, got {extra}")
        return -(-self.getK() // 4) if extra == -1 else extra

    def _width(self, n_words: int) -> int:
        """The subspace dimension l = k + extra + oversampling, at most the vocabulary."""
        components = self.getK() + self._extra_topics()
        oversampling = self.getOrDefault(self.oversampling)
        if oversampling < -1:
            raise ValueError(f"oversampling must be -1 or >= 0, got {oversampling}")
        return min(n_words, components + (max(10, components) if oversampling == -1 else oversampling))

    def _alpha0(self) -> float:
        if not self.isSet(self.docConcentration):
            return float(self.getOrDefault(self.alpha0))
        values = self.getOrDefault(self.docConcentration)
        if len(values) == 1:
            return float(values[0]) * self.getK()
        if len(values) != self.getK():
            raise ValueError(f"docConcentration has {len(values)} values: give 1 or k={self.getK()}")
        return float(sum(values))

    def _check_params(self) -> None:
        if self.getK() < 1:
            raise ValueError(f"k must be > 0, got {self.getK()}")
        if self.getOrDefault(self.documentWeighting) not in DOCUMENT_WEIGHTINGS:
            raise ValueError(f"documentWeighting must be one of {DOCUMENT_WEIGHTINGS}, "
                             f"got {self.getOrDefault(self.documentWeighting)!r}")  # fmt: skip
        if self.getOrDefault(self.whitening) not in WHITENINGS:
            raise ValueError(f"whitening must be one of {WHITENINGS}, got {self.getOrDefault(self.whitening)!r}")
        if self._alpha0() <= 0:
            raise ValueError(f"alpha0 (the sum of the Dirichlet prior) must be > 0, got {self._alpha0()}")
        self._extra_topics()

    def _input_spec(self, dataset: DataFrame, n_words: int | None) -> tuple[list[Column], FeatureSpec]:
        features_col, features_cols, weight_col, handle_invalid = self._input_settings()
        columns, spec = feature_spec(dataset, features_col, features_cols, weight_col, handle_invalid, n_words)
        return columns, replace(spec, counts=True)


@saved_as("sagespark.clustering")
class LDA(OnePassEstimator, _LDAParams, DefaultParamsReadable, ParamsWritable):
    """Spectral (method-of-moments) LDA, SageMaker's algorithm, in two passes (one with
    whitening='projection').

    >>> counts = CountVectorizer(inputCol="words", outputCol="features").fit(docs).transform(docs)  # doctest: +SKIP
    >>> model = LDA(k=20).fit(counts)                                # doctest: +SKIP
    >>> model.describeTopics(10).show()                              # doctest: +SKIP
    >>> model.finalize(k=15, alpha0=0.5)        # no data read       # doctest: +SKIP
    """

    FINALIZE_PARAMS = FINALIZE_PARAMS

    @keyword_only
    def __init__(
        self, *, k: int = 10, featuresCol: str = "features", featuresCols: Sequence[str] | None = None,
        weightCol: str | None = None, topicDistributionCol: str = "topicDistribution",
        alpha0: float = 1.0, docConcentration: Sequence[float] | None = None, maxRestarts: int = 10,
        maxIterations: int = 1000, tol: float = 1e-8, extraTopics: int = -1, whitening: str = "sketch",
        documentWeighting: str = "tokens", oversampling: int = -1, topicSmoothing: float = TOPIC_SMOOTHING,
        aggregationDepth: int = 2, handleInvalid: str = "error", seed: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "LDA":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _input(self, dataset: DataFrame, n_features: int | None) -> tuple[list[Column], FeatureSpec]:
        self._check_params()
        return self._input_spec(dataset, n_features)

    def _new_state(self, spec: FeatureSpec) -> Callable[[int], LDAMoments]:
        width = self._width(spec.n_features)
        if self.getK() + self._extra_topics() > width:
            raise ValueError(f"k={self.getK()} with {self._extra_topics()} extra topics needs more words than the "
                             f"vocabulary's {spec.n_features}: fit fewer topics (or extraTopics=0)")  # fmt: skip
        return partial(new_state, kind=LDAMoments.kind, n_words=spec.n_features, width=width, seed=self.getSeed(),
                       third=self._one_pass(), weighting=self.getOrDefault(self.documentWeighting))  # fmt: skip

    def _one_pass(self) -> bool:
        """'projection', or 'sketch' continuing a model (its basis is fixed)."""
        return self.getOrDefault(self.whitening) == "projection" or self.getInitialModel() is not None

    def _num_passes(self) -> int:
        return 1 if self._one_pass() else 2

    def _first_start(self, new_state):
        initial = self.getInitialModel()
        return new_state if initial is None else initial._state.continuation()

    def _state_bytes(self, spec: FeatureSpec) -> int:
        v, width = spec.n_features, self._width(spec.n_features)
        return 8 * (v * (4 + 2 * width) + width**2 + width**3)

    def _shared_pass_estimator(self, estimators: list["LDA"]) -> "LDA":
        """A grid over k shares the pass of its widest state."""
        return max(estimators, key=lambda estimator: estimator.getK() + estimator._extra_topics())

    def _model_class(self) -> type["LDAModel"]:
        return LDAModel


@dataclass(frozen=True)
class LDASummary(FitSummary):
    """FitSummary of an LDA fit, with what the moments saw: the (weighted) documents of
    3 or more tokens and their tokens, and the documents of fewer tokens, which cannot
    give an unbiased third moment and were skipped (counted, not dropped silently)."""

    numDocuments: float = 0.0
    numShortDocuments: int = 0
    numTokens: float = 0.0


@saved_as("sagespark.clustering")
class LDAModel(StateModel, _LDAParams):
    """k topics over the vocabulary and their Dirichlet prior; keeps the moments, so
    ``finalize(k=..., alpha0=...)`` gives other models without data."""

    FINALIZE_PARAMS = FINALIZE_PARAMS

    def _describe(self) -> dict[str, Any]:
        return {"k": self.getK(), "alpha0": self._alpha0(), "whitening": self.getOrDefault(self.whitening)}

    @property
    def summary(self) -> LDASummary:
        state = self._state
        return LDASummary(**asdict(self._summary), numDocuments=state.documents,
                          numShortDocuments=state.short_documents, numTokens=state.tokens)  # fmt: skip

    def _finalized(self) -> "LDAModel":
        self._solution
        return self

    @property
    def _solution(self) -> LDASolution:
        key = (self.getK(), self._alpha0(), self._extra_topics(), self.getOrDefault(self.maxRestarts),
               self.getOrDefault(self.maxIterations), self.getTol(), self.getSeed(),
               self.getOrDefault(self.topicSmoothing))  # fmt: skip
        return self._finalize_cached(key, lambda: self._state.finalize(*key))

    @property
    def numFeatures(self) -> int:
        return self._state.n_words

    def vocabSize(self) -> int:
        return self._state.n_words

    def isDistributed(self) -> bool:
        """False: the topics live on the driver (MLlib's LocalLDAModel)."""
        return False

    def topicsMatrix(self) -> DenseMatrix:
        """V x k, one topic per column, each a distribution over the words (MLlib's
        layout; MLlib's online model returns its unnormalized variational parameters)."""
        topics = self._solution.topics
        return DenseMatrix(topics.shape[0], topics.shape[1], topics.ravel(order="F"))

    def estimatedDocConcentration(self) -> DenseVector:
        """The fitted Dirichlet prior alpha, one value per topic (decreasing)."""
        return DenseVector(self._solution.alpha)

    def describeTopics(self, maxTermsPerTopic: int = 10) -> DataFrame:
        """MLlib's DataFrame: topic, termIndices, termWeights (the topic's most probable
        words, most probable first)."""
        topics = self._solution.topics
        rows = []
        for topic in range(topics.shape[1]):
            order = np.argsort(-topics[:, topic], kind="stable")[:maxTermsPerTopic]
            rows.append((topic, [int(i) for i in order], [float(w) for w in topics[order, topic]]))
        spark = SparkSession.active()
        return spark.createDataFrame(rows, "topic int, termIndices array<int>, termWeights array<double>")

    def _transform(self, dataset: DataFrame) -> DataFrame:
        scorer = partial(lda_topic_mixtures, word_topics=self._solution.topics, alpha=self._solution.alpha)
        outputs = {self.getTopicDistributionCol(): ("topicDistribution", VECTOR_ARROW_TYPE)}
        return add_scores(dataset, self._input_spec(dataset, self.numFeatures), scorer, outputs)

    def _likelihood_sums(self, dataset: DataFrame) -> np.ndarray:
        columns, spec = self._input_spec(dataset, self.numFeatures)
        summarize = partial(lda_likelihood_sums, word_topics=self._solution.topics, alpha=self._solution.alpha)
        sums = sum_dataset(dataset, columns, spec, summarize)
        if sums is None or sums[2] == 0:
            raise ValueError("the dataset has no documents to score")
        return sums

    def logLikelihood(self, dataset: DataFrame) -> float:
        """sum over documents of log p(c | theta, beta) with theta each document's
        folded-in mixture (transform's): a plug-in likelihood, not MLlib's variational
        lower bound, so the two are not comparable (see docs/lda.md)."""
        return float(self._likelihood_sums(dataset)[0])

    def logPerplexity(self, dataset: DataFrame) -> float:
        """-logLikelihood / tokens (lower is better; MLlib's sign convention)."""
        sums = self._likelihood_sums(dataset)
        return float(-sums[0] / sums[1]) if sums[1] > 0 else float("nan")
