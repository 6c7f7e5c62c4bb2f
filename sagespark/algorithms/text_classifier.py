"""The fastText text classifier, BlazingText's supervised mode (BlazingTextClassifier /
BlazingTextClassificationModel, public in sagespark.classification).

``BlazingTextClassifier`` reads an ``array<string>`` column of tokens and a label column
of class indices (0, 1, ..., as every MLlib classifier) in 1 + maxIter x roundsPerEpoch
passes over a :class:`~sagespark.states.text_classifier.TextClassifierState`: the
vocabulary and the labels, then training rounds merged across partitions as word2vec's
(sagespark.states.rounds). Rows marked by ``validationIndicatorCol`` are not trained:
their accuracy per epoch is in the summary and drives ``earlyStopping``. The model
adds MLlib's rawPrediction, probability and prediction, so MLlib's evaluators work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml.param import Param, TypeConverters
from pyspark.ml.param.shared import (
    HasAggregationDepth, HasHandleInvalid, HasInputCol, HasLabelCol, HasMaxIter, HasPredictionCol, HasProbabilityCol,
    HasRawPredictionCol, HasSeed, HasStepSize, HasValidationIndicatorCol,
)  # fmt: skip
from pyspark.ml.util import DefaultParamsReadable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sagespark.spark.features import require_handle_invalid, token_spec
from sagespark.spark.onepass import FitSummary
from sagespark.spark.rounds import RoundTrainedEstimator, RoundTrainedModel
from sagespark.spark.params import HasBuckets, HasTrainingRounds, param, stable_default_seed
from sagespark.spark.persistence import ParamsWritable, saved_as
from sagespark.spark.scoring import add_scores
from sagespark.states.text_classifier import (
    TextClassifierConfig, TextClassifierSolution, TextClassifierState, classify_documents,
)  # fmt: skip
from sagespark.udfs.arrow import VECTOR_ARROW_TYPE, FeatureSpec

__all__ = ["BlazingTextClassifier", "BlazingTextClassificationModel", "BlazingTextSummary"]


class _TextClassifierParams(HasTrainingRounds, HasBuckets, HasInputCol, HasLabelCol, HasPredictionCol, HasProbabilityCol,
                            HasRawPredictionCol, HasMaxIter, HasStepSize, HasSeed, HasHandleInvalid,
                            HasValidationIndicatorCol, HasAggregationDepth):  # fmt: skip
    wordNgrams: Param[int] = param("wordNgrams", "word n-grams up to this n are inputs besides the words (1: "
                                   "words only), each hashed into one of `buckets` rows", TypeConverters.toInt)  # fmt: skip
    earlyStopping: Param[bool] = param("earlyStopping", "stop when the validation rows' accuracy has not improved "
                                       "for `patience` epochs (needs validationIndicatorCol)",
                                       TypeConverters.toBoolean)  # fmt: skip
    patience: Param[int] = param("patience", "epochs without improvement before early stopping",
                                 TypeConverters.toInt)  # fmt: skip
    minEpochs: Param[int] = param("minEpochs", "epochs trained before early stopping may stop",
                                  TypeConverters.toInt)  # fmt: skip
    topK: Param[int] = param("topK", "transform: also output the k most probable labels (topKCol) and their "
                             "probabilities (topKProbabilityCol), most probable first (BlazingText's k; 0: no "
                             "such columns)", TypeConverters.toInt)  # fmt: skip
    topKCol: Param[str] = param("topKCol", "topK's labels column (array<double>)", TypeConverters.toString)
    topKProbabilityCol: Param[str] = param("topKProbabilityCol", "topK's probabilities column (array<double>)",
                                           TypeConverters.toString)  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(inputCol="words", wordNgrams=2, buckets=100_000, maxIter=5, stepSize=0.5,
                         earlyStopping=False, patience=4, minEpochs=5, topK=0, topKCol="topLabels",
                         topKProbabilityCol="topProbabilities", handleInvalid="error", aggregationDepth=2,
                         seed=stable_default_seed(self))  # fmt: skip

    def _config(self) -> TextClassifierConfig:
        return TextClassifierConfig(word_ngrams=self.getOrDefault(self.wordNgrams),
                                    buckets=self.getOrDefault(self.buckets), end_of_row=True,
                                    **self._rounds_config())  # fmt: skip

    def _indicator(self) -> str | None:
        return self.getOrDefault(self.validationIndicatorCol) if self.isDefined(self.validationIndicatorCol) else None

    def _tokens_input(self, dataset: DataFrame, labels: bool) -> tuple[list[Column], FeatureSpec]:
        indicator = self._indicator() if labels else None
        holdout = (F.col(indicator), indicator) if indicator else None
        return token_spec(dataset, self.getInputCol(), require_handle_invalid(self.getHandleInvalid()),
                          self.getLabelCol() if labels else None, holdout)  # fmt: skip


@saved_as("sagespark.classification")
class BlazingTextClassifier(RoundTrainedEstimator, _TextClassifierParams, DefaultParamsReadable, ParamsWritable):
    """fastText's supervised model: the mean of a document's word and hashed word-n-gram
    vectors, softmax over the classes; trained on the partitions in rounds.

    >>> words = RegexTokenizer(inputCol="text", outputCol="words").transform(docs)  # doctest: +SKIP
    >>> model = BlazingTextClassifier(inputCol="words", labelCol="label").fit(words)  # doctest: +SKIP
    >>> MulticlassClassificationEvaluator().evaluate(model.transform(words))          # doctest: +SKIP
    """

    state_class = TextClassifierState

    @keyword_only
    def __init__(
        self, *, inputCol: str = "words", labelCol: str = "label", predictionCol: str = "prediction",
        probabilityCol: str = "probability", rawPredictionCol: str = "rawPrediction", vectorSize: int = 100,
        wordNgrams: int = 2, buckets: int = 100_000, minCount: int = 5, maxIter: int = 5, stepSize: float = 0.5,
        earlyStopping: bool = False, patience: int = 4, minEpochs: int = 5, validationIndicatorCol: str | None = None,
        topK: int = 0, topKCol: str = "topLabels", topKProbabilityCol: str = "topProbabilities",
        numPartitions: int = 0, roundsPerEpoch: int | str = "auto", roundMerge: str = "saturating",
        maxVocabularySize: int = 0, handleInvalid: str = "error", aggregationDepth: int = 2, seed: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, **kwargs: Any) -> "BlazingTextClassifier":
        return self._set(**{key: value for key, value in kwargs.items() if value is not None})

    def _input(self, dataset: DataFrame, n_features: int | None) -> tuple[list[Column], FeatureSpec]:
        if self.getOrDefault(self.earlyStopping) and not self._indicator():
            raise ValueError("earlyStopping needs validationIndicatorCol: the rows whose accuracy it watches")
        return self._tokens_input(dataset, labels=True)

    def _passes_from(self, start: TextClassifierState, passes: int) -> int:
        """All epochs' rounds, or the passes made when early stopping stops."""
        history = start.validation_history
        if self.getOrDefault(self.earlyStopping) and len(history) >= max(self.getOrDefault(self.minEpochs), 1):
            if len(history) - 1 - int(history.argmax()) >= self.getOrDefault(self.patience):
                return start.passes
        return super()._passes_from(start, passes)

    def _training_columns(self) -> list[str]:
        return [self.getInputCol(), self.getLabelCol()] + ([self._indicator()] if self._indicator() else [])

    def _model_class(self) -> type["BlazingTextClassificationModel"]:
        return BlazingTextClassificationModel


@dataclass(frozen=True)
class BlazingTextSummary(FitSummary):
    """FitSummary of a BlazingTextClassifier fit: the vocabulary's size, the classes, the
    epochs trained and the validation rows' accuracy after each (empty without
    validationIndicatorCol)."""

    vocabularySize: int = 0
    numClasses: int = 0
    numEpochs: int = 0
    validationAccuracy: tuple[float, ...] = ()


@saved_as("sagespark.classification")
class BlazingTextClassificationModel(RoundTrainedModel, _TextClassifierParams):
    """The word and n-gram vectors and one output vector per class; keeps the training
    state and saves it as arrays."""

    def _describe(self) -> dict[str, Any]:
        return {"numClasses": self.numClasses, "vocabularySize": len(self._state.words)}

    @property
    def summary(self) -> BlazingTextSummary:
        state = self._state
        return BlazingTextSummary(**asdict(self._summary), vocabularySize=len(state.words),
                                  numClasses=self.numClasses, numEpochs=state.epochs_done,
                                  validationAccuracy=tuple(float(a) for a in state.validation_history))  # fmt: skip

    @property
    def _solution(self) -> TextClassifierSolution:
        return super()._solution

    @property
    def numClasses(self) -> int:
        return self._solution.num_classes

    @property
    def numFeatures(self) -> int:
        return self._state.config.vector_size

    def _transform(self, dataset: DataFrame) -> DataFrame:
        solution = self._solution
        top_k = self.getOrDefault(self.topK)
        if top_k < 0:
            raise ValueError(f"topK must be >= 0, got {top_k}")
        scorer = partial(classify_documents, vocabulary=pa.array(solution.words.tolist(), pa.string()),
                         solution=solution, top_k=min(top_k, solution.num_classes))  # fmt: skip
        outputs = {}
        if self.getRawPredictionCol():
            outputs[self.getRawPredictionCol()] = ("rawPrediction", VECTOR_ARROW_TYPE)
        if self.getProbabilityCol():
            outputs[self.getProbabilityCol()] = ("probability", VECTOR_ARROW_TYPE)
        outputs[self.getPredictionCol()] = ("prediction", pa.float64())
        if top_k > 0:
            outputs[self.getOrDefault(self.topKCol)] = ("topLabels", pa.list_(pa.float64()))
            outputs[self.getOrDefault(self.topKProbabilityCol)] = ("topProbabilities", pa.list_(pa.float64()))
        return add_scores(dataset, self._tokens_input(dataset, labels=False), scorer, outputs)
